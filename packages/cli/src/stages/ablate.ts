import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import {
  type AblationLayer,
  type AblationSet,
  type AblationSummary,
  ablationSchema,
  argmax,
  columnValues,
  makeTable,
  mulberry32,
  readParquetFile,
  type Summary,
  SummarySchema,
  UserError,
  writeJsonAtomic,
  writeParquetFile,
} from '@neuronscope/core';
import { AblationRunner, type AblationVariant, loadImage, loadModel, selectLayers } from '@neuronscope/model';
import type { Log } from '../log.js';
import { runFile } from './files.js';
import { readRunConfig } from './perturb.js';
import { readSummary } from './stats.js';

/** The file the ablation stage writes beside the run's other tables. */
export const ABLATION_FILE = 'ablation.parquet';

/** What an ablated channel becomes: 0, or its mean activation over the copies (`mean_activation`). */
export type AblationMode = 'zero' | 'mean';

/** Settings of the `ablate` stage. */
export interface AblateOptions {
  mode: AblationMode;
  /** Random k-sets drawn per layer. */
  random: number;
  /** Seed of the random draws. */
  seed: number;
  /** Where random sets come from: eligible channels (as precision's candidates), or all channels. */
  pool: 'eligible' | 'all';
  /** Layers to test (a `--layers` spec over the run's layers); all of the run's layers when absent. */
  layers?: string;
  /** Variants per inference call (default 16, or 1 for a model with a fixed batch). */
  batchSize?: number;
  threads?: number;
}

/** 32-bit FNV-1a, to give every layer its own random stream. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** `count` sets of `k` distinct values of `pool`, each sorted (partial Fisher-Yates). */
export function randomSets(pool: readonly number[], k: number, count: number, seed: number): number[][] {
  const next = mulberry32(seed);
  const work = [...pool];
  const sets: number[][] = [];
  for (let s = 0; s < count; s++) {
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(next() * (work.length - i));
      [work[i], work[j]] = [work[j]!, work[i]!];
    }
    sets.push(work.slice(0, k).sort((a, b) => a - b));
  }
  return sets;
}

/** Quantile with linear interpolation between order statistics (numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Changes of the target probability smaller than this (0.01 percentage points) count as no change: drops within it
 * of each other are ties for the percentile, and a set is "above the random 95th percentile" only by more than it.
 * Without it, float32 rounding decides: e.g. in a classifier layer whose random ablations all change the
 * probability by -1e-6, a selected set with drop -1e-11 would rank above every one of them.
 */
export const TIE_TOLERANCE = 1e-4;

/** Percentile rank of `value` among `sample`: the fraction below it, ties (within `tolerance`) counted half. */
export function percentileRank(sample: readonly number[], value: number, tolerance = TIE_TOLERANCE): number {
  if (sample.length === 0) return Number.NaN;
  let below = 0;
  let equal = 0;
  for (const v of sample) {
    if (Math.abs(v - value) <= tolerance) equal++;
    else if (v < value) below++;
  }
  return (below + equal / 2) / sample.length;
}

function softmaxAt(logits: Float32Array, index: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const z of logits) max = Math.max(max, z);
  let sum = 0;
  for (const z of logits) sum += Math.exp(z - max);
  return Math.exp((logits[index] as number) - max) / sum;
}

/** A finite number, or null (JSON has no NaN). */
const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

interface Outcome {
  probability: number;
  drop: number;
  logit: number;
  logitDrop: number;
  top1: number;
  top1Changed: boolean;
}

/**
 * The `ablate` stage: on the clean image, switch off (zero, or set to the channel's mean activation over the
 * copies) the top-k correlation-selected channels of each layer, then the top-k precision-selected ones, then
 * `random` random k-sets of eligible channels, and record the target probability and top-1 after each. One
 * onnxruntime session with a mask input on every tested layer serves all variants, batch rows = variants.
 * Writes `ablation.parquet` and the `ablation` section of `summary.json`; returns the updated summary.
 */
export async function runAblateStage(dir: string, opts: AblateOptions, log: Log): Promise<Summary> {
  const config = await readRunConfig(dir);
  const summary = await readSummary(dir);
  if (opts.random < 1) throw new UserError('--random must be at least 1');
  const model = await loadModel(config.model.path);
  if (model.sha256 !== config.model.sha256) {
    throw new UserError(`${config.model.path} changed since this run was made; run explain again`);
  }
  const image = await loadImage(config.image.path, config.preprocessing);
  if (image.sha256 !== config.image.sha256) {
    throw new UserError(`${config.image.path} changed since this run was made; run explain again`);
  }
  const wanted = new Set(selectLayers(config.layers, opts.layers, config.model.path).map((l) => l.layer));
  const layers = summary.layers.filter((l) => wanted.has(l.layer));
  if (layers.length === 0) throw new UserError('no layer to ablate: the selection matches none of the run layers');
  const k = summary.stats.topK;

  // Eligibility and mean activation of every channel, from neurons.parquet.
  const neurons = await readParquetFile(runFile(dir, 'neurons'));
  const nLayer = columnValues<string>(neurons, 'layer');
  const nChannel = columnValues<number>(neurons, 'channel');
  const nMean = columnValues<number>(neurons, 'mean_activation');
  const nEligible = columnValues<boolean>(neurons, 'eligible');
  const perLayer = new Map(
    layers.map((l) => [l.layer, { mean: new Float64Array(l.channels), eligible: [] as number[] }]),
  );
  for (let r = 0; r < nLayer.length; r++) {
    const entry = perLayer.get(nLayer[r]!);
    if (!entry) continue;
    entry.mean[nChannel[r]!] = nMean[r]!;
    if (nEligible[r]) entry.eligible.push(nChannel[r]!);
  }

  const runner = await AblationRunner.create(
    model.bytes,
    layers.map((l) => ({ tensor: l.layer, channels: l.channels })),
    {
      inputName: config.model.input,
      outputName: config.model.output,
      fill: opts.mode === 'mean',
      fixedBatch: model.dynamicBatch ? null : model.batch,
      threads: opts.threads ?? availableParallelism(),
      modelPath: config.model.path,
    },
  );

  // Variant 0 is the unablated network through the edited graph (every mask ones): the reference for the drops.
  interface Planned extends AblationVariant {
    layer: number;
    set: AblationSet;
    draw: number;
  }
  const plan: Planned[] = [];
  const pools: { pool: 'eligible' | 'all'; size: number }[] = [];
  layers.forEach((l, target) => {
    const info = perLayer.get(l.layer)!;
    if (opts.mode === 'mean') runner.setFill(target, info.mean);
    const all = Array.from({ length: l.channels }, (_, c) => c);
    const pool = opts.pool === 'eligible' && info.eligible.length >= k ? 'eligible' : 'all';
    const members = pool === 'eligible' ? info.eligible : all;
    pools.push({ pool, size: members.length });
    const push = (set: AblationSet, channels: number[], draw: number) =>
      plan.push({ target, channels, layer: target, set, draw });
    push(
      'correlation',
      l.byCorrelation.map((n) => n.channel),
      -1,
    );
    if (l.byPrecision.length > 0)
      push(
        'precision',
        l.byPrecision.map((n) => n.channel),
        -1,
      );
    const draws = randomSets(members, k, opts.random, (opts.seed ^ hash(l.layer)) >>> 0);
    for (const [d, set] of draws.entries()) push('random', set, d);
  });
  const variants: AblationVariant[] = [{ target: null, channels: [] }, ...plan];
  const batchSize = model.dynamicBatch ? (opts.batchSize ?? 16) : 1;
  const bar = log.progress('ablate', variants.length);
  const started = performance.now();
  let logits: Float32Array[];
  let baselines: (Float32Array | null)[];
  try {
    logits = await runner.run(image.tensor, variants, batchSize, (done) => bar.update(done));
    baselines = [...runner.baselines];
  } finally {
    bar.stop();
    await runner.release();
  }
  const seconds = (performance.now() - started) / 1000;
  log.info(`ablate: ${variants.length} variants of ${layers.length} layers in ${seconds.toFixed(1)} s`);

  const target = summary.target.index;
  const base = logits[0]!;
  if (target >= base.length) throw new UserError(`target ${target} is not a class of this model`);
  const cleanProbability = softmaxAt(base, target);
  const cleanTop1 = argmax(base);
  const cleanLogit = base[target]!;
  // Every edited graph, with all masks ones, must compute what the original model computed on the clean image.
  const reference = (await readParquetFile(runFile(dir, 'outputs'))).schema.metadata.get('neuronscope.clean');
  let baselineDiff = 0;
  if (reference) {
    const clean = JSON.parse(reference) as { logits: number[] };
    for (const b of [base, ...baselines]) {
      if (!b) continue;
      for (const [i, z] of clean.logits.entries()) baselineDiff = Math.max(baselineDiff, Math.abs(z - b[i]!));
    }
  }
  const outcome = (row: Float32Array): Outcome => {
    const probability = softmaxAt(row, target);
    const top1 = argmax(row);
    return {
      probability,
      drop: cleanProbability - probability,
      logit: row[target]!,
      logitDrop: cleanLogit - row[target]!,
      top1,
      top1Changed: top1 !== cleanTop1,
    };
  };
  const outcomes = plan.map((_, i) => outcome(logits[i + 1]!));

  const layerResults: AblationLayer[] = layers.map((l, li) => {
    const rows = plan.map((p, i) => ({ p, o: outcomes[i]! })).filter((r) => r.p.layer === li);
    const random = rows.filter((r) => r.p.set === 'random');
    const drops = random.map((r) => r.o.drop).sort((a, b) => a - b);
    const mean = drops.reduce((a, b) => a + b, 0) / drops.length;
    const std = Math.sqrt(drops.reduce((a, b) => a + (b - mean) ** 2, 0) / drops.length);
    const selected = (set: AblationSet) => {
      const r = rows.find((x) => x.p.set === set);
      if (!r) return null;
      return {
        channels: [...r.p.channels],
        probability: r.o.probability,
        drop: r.o.drop,
        top1: r.o.top1,
        top1Changed: r.o.top1Changed,
        percentile: percentileRank(drops, r.o.drop),
        zScore: std > 0 ? finite((r.o.drop - mean) / std) : null,
      };
    };
    return {
      layer: l.layer,
      layerIndex: l.layerIndex,
      channels: l.channels,
      k,
      pool: pools[li]!.pool,
      poolSize: pools[li]!.size,
      correlation: selected('correlation'),
      precision: selected('precision'),
      random: {
        count: drops.length,
        mean,
        std,
        p5: quantile(drops, 0.05),
        p50: quantile(drops, 0.5),
        p95: quantile(drops, 0.95),
        top1Changed: random.filter((r) => r.o.top1Changed).length / random.length,
      },
    };
  });

  const above = (set: 'correlation' | 'precision') =>
    layerResults.filter((l) => l[set] !== null && l[set]!.drop > l.random.p95 + TIE_TOLERANCE).length;
  const meanPercentile = (set: 'correlation' | 'precision') => {
    const values = layerResults.flatMap((l) => (l[set] ? [l[set]!.percentile] : []));
    return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
  };
  const ablation: AblationSummary = {
    version: 1,
    mode: opts.mode,
    randomSets: opts.random,
    seed: opts.seed,
    pool: opts.pool,
    k,
    target,
    cleanProbability,
    cleanTop1,
    baselineMaxAbsLogitDiff: baselineDiff,
    variants: variants.length,
    layers: layerResults,
    totals: {
      layers: layerResults.length,
      correlationAboveP95: above('correlation'),
      precisionAboveP95: above('precision'),
      meanPercentileCorrelation: meanPercentile('correlation'),
      meanPercentilePrecision: meanPercentile('precision'),
    },
  };

  const n = plan.length;
  const table = makeTable(
    ablationSchema,
    {
      layer: { indices: Int32Array.from(plan, (p) => p.layer), dictionary: layers.map((l) => l.layer) },
      layer_index: Int32Array.from(plan, (p) => layers[p.layer]!.layerIndex),
      set: plan.map((p) => p.set),
      draw: Int32Array.from(plan, (p) => p.draw),
      channels: plan.map((p) => [...p.channels]) as unknown as readonly (number | null)[],
      mode: plan.map(() => opts.mode),
      target: new Int32Array(n).fill(target),
      probability: Float64Array.from(outcomes, (o) => o.probability),
      drop: Float64Array.from(outcomes, (o) => o.drop),
      logit: Float32Array.from(outcomes, (o) => o.logit),
      logit_drop: Float64Array.from(outcomes, (o) => o.logitDrop),
      top1: Int32Array.from(outcomes, (o) => o.top1),
      top1_changed: outcomes.map((o) => o.top1Changed),
    },
    n,
  );
  const updated = SummarySchema.parse({ ...summary, ablation });
  await writeParquetFile(join(dir, ABLATION_FILE), table);
  await writeJsonAtomic(runFile(dir, 'summary'), updated);
  return updated;
}

/** A plain-text table of an ablation summary, for the terminal. */
export function ablationText(a: AblationSummary): string {
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(0)}%`);
  const num = (x: number | null | undefined) => (x === null || x === undefined ? '—' : x.toFixed(4));
  const lines = [
    `ablation (${a.mode}) of the top-${a.k} sets vs ${a.randomSets} random ${a.k}-sets per layer; target ${a.target}, clean probability ${a.cleanProbability.toFixed(4)}`,
    'index  layer  drop(corr) pct  drop(prec) pct  random mean [p5, p95]',
  ];
  for (const l of a.layers) {
    lines.push(
      `${l.layerIndex}  ${l.layer}  ${num(l.correlation?.drop)} ${pct(l.correlation?.percentile)}  ${num(l.precision?.drop)} ${pct(l.precision?.percentile)}  ${num(l.random.mean)} [${num(l.random.p5)}, ${num(l.random.p95)}]`,
    );
  }
  lines.push(
    `selected set above the random 95th percentile: correlation ${a.totals.correlationAboveP95}/${a.totals.layers}, precision ${a.totals.precisionAboveP95}/${a.totals.layers}`,
  );
  return lines.join('\n');
}

/** Reads `ablation.parquet` of a run directory. */
export async function readAblationTable(dir: string) {
  return readParquetFile(join(dir, ABLATION_FILE));
}
