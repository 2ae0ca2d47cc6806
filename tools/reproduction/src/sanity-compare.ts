/**
 * Issue #6, part 4: the model-randomization sanity check (Adebayo et al. 2018). Compares the explanation of each
 * photo on the original model with the explanations on models whose top K conv layers were randomized
 * (`neuronscope randomize`), layer by layer: Spearman's rho of correlation and of precision over channels, and
 * the Jaccard index of the selected sets. Reads OUT/<photo>/original and OUT/<photo>/top<K> run directories and
 * OUT/top<K>.json (what `randomize --json` printed); prints Markdown and writes OUT/sanity.json.
 *
 *   node tools/reproduction/dist/sanity-compare.js OUT
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { columnValues, readParquetFile, writeJsonAtomic } from '@neuronscope/core';
import { compareLayers, type LayerComparison, mean, type NeuronMetrics } from './lib.js';

async function metrics(dir: string): Promise<NeuronMetrics[]> {
  const t = await readParquetFile(join(dir, 'neurons.parquet'));
  const layer = columnValues<string>(t, 'layer');
  const index = columnValues<number>(t, 'layer_index');
  const channel = columnValues<number>(t, 'channel');
  const corr = columnValues<number>(t, 'correlation');
  const prec = columnValues<number>(t, 'precision');
  const selC = columnValues<boolean>(t, 'selected_correlation');
  const selP = columnValues<boolean>(t, 'selected_precision');
  const out = new Map<string, { index: number; rows: number[] }>();
  for (let r = 0; r < layer.length; r++) {
    const e = out.get(layer[r]!) ?? { index: index[r]!, rows: [] };
    e.rows.push(r);
    out.set(layer[r]!, e);
  }
  return [...out.entries()].map(([name, e]) => {
    const n = Math.max(...e.rows.map((r) => channel[r]!)) + 1;
    const m: NeuronMetrics = {
      layer: name,
      layerIndex: e.index,
      correlation: new Float64Array(n).fill(Number.NaN),
      precision: new Float64Array(n).fill(Number.NaN),
      selectedCorrelation: new Set(),
      selectedPrecision: new Set(),
    };
    for (const r of e.rows) {
      const c = channel[r]!;
      m.correlation[c] = corr[r] ?? Number.NaN;
      // Infinite precision (constant channel) ranks above every finite one; keep it.
      m.precision[c] = prec[r] ?? Number.NaN;
      if (selC[r]) m.selectedCorrelation.add(c);
      if (selP[r]) m.selectedPrecision.add(c);
    }
    return m;
  });
}

const f = (x: number) => (Number.isNaN(x) ? '—' : x.toFixed(2));

async function main(): Promise<void> {
  const out = resolve(process.argv[2] ?? 'out/reproduction/sanity');
  const photos = (await readdir(out, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  const variants = (await readdir(out)).filter((n) => /^top\d+\.json$/.test(n)).map((n) => n.replace('.json', ''));
  variants.sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)));
  const results: Record<string, unknown>[] = [];
  const lines = [
    '| randomized (top K convs) | layers | ρ correlation, randomized layers | ρ correlation, layers below | ρ precision, randomized layers | ρ precision, layers below | Jaccard corr. sets, all layers | Jaccard prec. sets, all layers | top-1 kept |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const v of variants) {
    const info = JSON.parse(await readFile(join(out, `${v}.json`), 'utf8')) as {
      randomized: { convIndex: number }[];
      convLayers: number;
    };
    const randomized = new Set(info.randomized.map((r) => r.convIndex));
    const comparisons: (LayerComparison & { photo: string; randomized: boolean })[] = [];
    let kept = 0;
    for (const photo of photos) {
      const [a, b] = await Promise.all([metrics(join(out, photo, 'original')), metrics(join(out, photo, v))]);
      for (const c of compareLayers(a, b)) comparisons.push({ ...c, photo, randomized: randomized.has(c.layerIndex) });
      const sa = JSON.parse(await readFile(join(out, photo, 'original', 'summary.json'), 'utf8'));
      const sb = JSON.parse(await readFile(join(out, photo, v, 'summary.json'), 'utf8'));
      if (sa.predictions[0].index === sb.predictions[0].index) kept++;
    }
    const pick = (r: boolean | null, key: keyof LayerComparison) =>
      mean(
        comparisons
          .filter((c) => r === null || c.randomized === r)
          .flatMap((c) => (typeof c[key] === 'number' ? [c[key] as number] : [])),
      );
    const row = {
      variant: v,
      randomizedLayers: randomized.size,
      convLayers: info.convLayers,
      correlationSpearmanRandomized: pick(true, 'correlationSpearman'),
      correlationSpearmanBelow: pick(false, 'correlationSpearman'),
      precisionSpearmanRandomized: pick(true, 'precisionSpearman'),
      precisionSpearmanBelow: pick(false, 'precisionSpearman'),
      correlationJaccard: pick(null, 'correlationJaccard'),
      precisionJaccard: pick(null, 'precisionJaccard'),
      top1Kept: kept / photos.length,
      comparisons,
    };
    results.push(row);
    lines.push(
      `| ${randomized.size} of ${info.convLayers} | ${comparisons.length / photos.length} | ${f(row.correlationSpearmanRandomized)} | ${f(row.correlationSpearmanBelow)} | ${f(row.precisionSpearmanRandomized)} | ${f(row.precisionSpearmanBelow)} | ${f(row.correlationJaccard)} | ${f(row.precisionJaccard)} | ${kept}/${photos.length} |`,
    );
  }
  await writeJsonAtomic(join(out, 'sanity.json'), { photos, results });
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
