/**
 * `--samples auto` on the shared photos: for each model and photo, a fixed N = 500 run and an auto run (at most
 * 500 copies, the default rule), and how the auto run's selections agree with the fixed run's, strictly and
 * counting the ties it reports (summary.json's `stopping`).
 *
 *     node tools/bench/dist/stopping.js [--models squeezenet,mobilenetv2,vgg16] [--images cat.png,owl.jpg]
 */
import { existsSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Summary } from '@neuronscope/core';
import { createExplainer } from '@neuronscope/engine';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SHARED = resolve(ROOT, '../shared');
const MODELS: Record<string, string> = {
  squeezenet: join(SHARED, 'models/squeezenet1_1.onnx'),
  mobilenetv2: join(SHARED, 'models/mobilenetv2_1.0_224.onnx'),
  vgg16: join(ROOT, 'out/bench/vgg16-128.onnx'),
};

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

type Criterion = 'byCorrelation' | 'byPrecision';
const key = (c: Criterion) => (c === 'byCorrelation' ? 'correlation' : 'precision');

/** Mean over layers of |R ∩ A| / |R| (strict) or |R ∩ (A ∪ ties of A)| / |R|. */
function agreement(auto: Summary, reference: Summary, criterion: Criterion, withTies: boolean): number {
  let sum = 0;
  let count = 0;
  auto.layers.forEach((l, k) => {
    const ref = reference.layers[k]![criterion].map((n) => n.channel);
    if (!ref.length) return;
    const ties = withTies ? (auto.stopping?.layers[k]?.[key(criterion)].ties ?? []) : [];
    const found = new Set([...l[criterion].map((n) => n.channel), ...ties]);
    sum += ref.filter((c) => found.has(c)).length / ref.length;
    count++;
  });
  return count ? sum / count : 1;
}

function tiedOutside(auto: Summary, criterion: Criterion): number {
  const layers = auto.stopping?.layers ?? [];
  let total = 0;
  layers.forEach((l, k) => {
    const top = new Set(auto.layers[k]![criterion].map((n) => n.channel));
    total += l[key(criterion)].ties.filter((c) => !top.has(c)).length;
  });
  return layers.length ? total / layers.length : 0;
}

const names = (arg('models') ?? 'squeezenet,mobilenetv2,vgg16').split(',');
const images = (
  arg('images') ??
  readdirSync(join(SHARED, 'images'))
    .filter((f) => /\.(png|jpe?g)$/i.test(f))
    .join(',')
)
  .split(',')
  .filter(Boolean);
const out = (line = '') => process.stdout.write(`${line}\n`);
out(`# --samples auto on the shared photos (at most 500 copies, default rule) against N = 500`);
out(
  `load average at start ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
out();
out(
  '| model | photo | copies used | correlation: strict / counting ties | precision: strict / counting ties | ' +
    'tied non-members per layer, correlation / precision | half-sample agreement at the stop, counting ties / strict |',
);
out('|---|---|---|---|---|---|---|');
for (const name of names) {
  const path = MODELS[name];
  if (!path || !existsSync(path)) throw new Error(`model ${name} not found (${path})`);
  const explainer = await createExplainer({ model: path, cache: false, batchSize: 8 });
  try {
    for (const image of images) {
      const file = join(SHARED, 'images', image);
      const analysis = { seed: 1, topK: 5, eligibility: 0.1 };
      const fixed = (await explainer.explain(file, { ...analysis, samples: 500 })).summary;
      const auto = (await explainer.explain(file, { ...analysis, samples: 'auto', maxSamples: 500 })).summary;
      const f3 = (x: number) => x.toFixed(3);
      out(
        `| ${name} | ${image} | ${auto.samplesUsed} | ` +
          `${f3(agreement(auto, fixed, 'byCorrelation', false))} / ${f3(agreement(auto, fixed, 'byCorrelation', true))} | ` +
          `${f3(agreement(auto, fixed, 'byPrecision', false))} / ${f3(agreement(auto, fixed, 'byPrecision', true))} | ` +
          `${tiedOutside(auto, 'byCorrelation').toFixed(1)} / ${tiedOutside(auto, 'byPrecision').toFixed(1)} | ` +
          `${f3(auto.stopping?.agreement ?? Number.NaN)} / ${f3(auto.stopping?.strictAgreement ?? Number.NaN)} |`,
      );
    }
  } finally {
    await explainer.close();
  }
}
out();
out(
  `load average at the end ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
