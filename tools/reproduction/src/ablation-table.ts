/**
 * Issue #6, part 3: the per-model, per-depth table of the ablation results that `imagenet-ablation.sh` wrote.
 * Reads OUT/<model>/<photo>/{summary.json, ablation-<mode>.json, run.json}; prints Markdown on stdout and writes
 * OUT/table.json.
 *
 *   node tools/reproduction/dist/ablation-table.js OUT
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type AblationSummary, AblationSummarySchema, type RunConfig, writeJsonAtomic } from '@neuronscope/core';
import { type AblationRun, ablationMarkdown, ablationTable } from './lib.js';

async function main(): Promise<void> {
  const out = resolve(process.argv[2] ?? 'out/reproduction/imagenet');
  const runs: AblationRun[] = [];
  for (const model of (await readdir(out, { withFileTypes: true })).filter((d) => d.isDirectory())) {
    if (model.name === 'cache') continue;
    for (const photo of (await readdir(join(out, model.name), { withFileTypes: true })).filter((d) =>
      d.isDirectory(),
    )) {
      const dir = join(out, model.name, photo.name);
      const files = await readdir(dir);
      const config = JSON.parse(await readFile(join(dir, 'run.json'), 'utf8')) as RunConfig;
      const last = config.layers[config.layers.length - 1]!;
      // The classifier: a last conv with 1x1 output, or one channel per class (SqueezeNet's conv10 + ReLU).
      const outputs = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')).predictions.length > 0;
      const classifierIndex =
        outputs && (last.channels >= 1000 || (last.height === 1 && last.width === 1)) ? last.layerIndex : null;
      for (const f of files.filter((n) => /^ablation-(zero|mean)\.json$/.test(n))) {
        const ablation: AblationSummary = AblationSummarySchema.parse(JSON.parse(await readFile(join(dir, f), 'utf8')));
        runs.push({ model: model.name, photo: photo.name, ablation, lastIndex: last.layerIndex, classifierIndex });
      }
    }
  }
  const rows = ablationTable(runs);
  await writeJsonAtomic(join(out, 'table.json'), rows);
  process.stdout.write(ablationMarkdown(rows));
}

await main();
