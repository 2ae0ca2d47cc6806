#!/usr/bin/env node
// Measures how stable the resampling heat maps are as the number of masked copies M grows, to size `--masks`.
// For a run directory that `neuronscope explain` (or perturb/extract/stats) wrote, it draws 2 x MAX masks with
// the maps stage's settings, feeds the even copies to one accumulator and the odd ones to another, and at each
// checkpoint M reports the split-half agreement: the Pearson correlation, over map cells, between the map from
// M even copies and the map from M odd copies, for every selected neuron and the output.
//
//   npm run build && node tools/maps-stability/measure.mjs out/cat [MAX=4000]
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { MapAccumulator, mapGrid } from '../../packages/cli/dist/maps/accumulator.js';
import { channelMeanOutput, withChannelMeans } from '../../packages/cli/dist/maps/channel-means.js';
import { DEFAULT_MAP_SIZE, selectedNeurons } from '../../packages/cli/dist/stages/maps.js';
import { readRunConfig } from '../../packages/cli/dist/stages/perturb.js';
import { readSummary } from '../../packages/cli/dist/stages/stats.js';
import { outputValue, tensorDims } from '../../packages/core/dist/index.js';
import { createSession, loadImage, loadModel } from '../../packages/model/dist/index.js';
import { maskFor, perturbationTable, readPerturbationTable, renderCopy } from '../../packages/perturb/dist/index.js';

const dir = resolve(process.argv[2] ?? 'out/cat');
const max = Number(process.argv[3] ?? 4000);
const checkpoints = [125, 250, 500, 750, 1000, 1500, 2000, 3000, 4000].filter((m) => m <= max);

const config = await readRunConfig(dir);
const summary = await readSummary(dir);
const neurons = selectedNeurons(summary);
const [height, width] = config.preprocessing.size;
const grid = mapGrid(height, width, DEFAULT_MAP_SIZE);
const model = await loadModel(config.model.path);
const input = (await loadImage(config.image.path, config.preprocessing)).tensor;
const params = { grid: 7, keepProb: 0.5, baseline: 'zero', includeClean: false };
const copies = readPerturbationTable(
  perturbationTable({ family: 'mask', samples: 2 * max, seed: config.perturbation.seed, params }, input),
);
const layers = [...new Set(neurons.map((n) => n.layer))];
const channels = new Map(config.layers.map((l) => [l.layer, l.channels]));
const session = await createSession(withChannelMeans(model.bytes, layers), { threads: availableParallelism() });
const fetches = [config.model.output, ...layers.map(channelMeanOutput)];
const halves = [new MapAccumulator(neurons.length + 1, grid), new MapAccumulator(neurons.length + 1, grid)];
const size = input.data.length;
const batch = 16;
const data = new Float32Array(batch * size);
const values = new Float64Array(neurons.length + 1);

function pearson(a, b) {
  let n = 0,
    sa = 0,
    sb = 0;
  for (let i = 0; i < a.length; i++)
    if (Number.isFinite(a[i]) && Number.isFinite(b[i])) {
      n++;
      sa += a[i];
      sb += b[i];
    }
  const ma = sa / n,
    mb = sb / n;
  let cov = 0,
    va = 0,
    vb = 0;
  for (let i = 0; i < a.length; i++) {
    if (!(Number.isFinite(a[i]) && Number.isFinite(b[i]))) continue;
    cov += (a[i] - ma) * (b[i] - mb);
    va += (a[i] - ma) ** 2;
    vb += (b[i] - mb) ** 2;
  }
  return va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : Number.NaN;
}
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))];
};

const rows = [];
const started = performance.now();
let next = 0;
for (let start = 0; start < copies.length; start += batch) {
  const b = Math.min(batch, copies.length - start);
  const masks = [];
  for (let k = 0; k < b; k++) {
    const copy = copies[start + k];
    renderCopy(input, copy, data.subarray(k * size, (k + 1) * size));
    masks.push(maskFor(copy.params, copy.seed, height, width));
  }
  const result = await session.run(
    { [config.model.input]: new ort.Tensor('float32', data.subarray(0, b * size), tensorDims(input, b)) },
    fetches,
  );
  const logits = result[config.model.output].data;
  const classes = logits.length / b;
  for (let k = 0; k < b; k++) {
    neurons.forEach((n, i) => {
      values[i] = result[channelMeanOutput(n.layer)].data[k * channels.get(n.layer) + n.channel];
    });
    values[neurons.length] = outputValue(
      logits.subarray(k * classes, (k + 1) * classes),
      summary.target.index,
      config.output,
    );
    halves[(start + k) % 2].add(masks[k], values);
  }
  const perHalf = Math.floor((start + b) / 2);
  while (next < checkpoints.length && perHalf >= checkpoints[next]) {
    const m = checkpoints[next++];
    const agreement = neurons
      .map((_, i) => pearson(halves[0].pearson(i), halves[1].pearson(i)))
      .filter(Number.isFinite);
    const out = neurons.length;
    const rise = pearson(halves[0].rise(out), halves[1].rise(out));
    const row = {
      M: m,
      mean: agreement.reduce((s, v) => s + v, 0) / agreement.length,
      median: quantile(agreement, 0.5),
      p10: quantile(agreement, 0.1),
      below09: agreement.filter((v) => v < 0.9).length / agreement.length,
      outputPearson: pearson(halves[0].pearson(out), halves[1].pearson(out)),
      rise,
      seconds: (performance.now() - started) / 1000,
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}
await session.release();
console.log(`${neurons.length} neuron maps, ${config.layers.length} layers, ${summary.run.image.path}`);
console.log('| M | mean | median | 10th pct | share < 0.9 | output r-map | RISE |');
console.log('|---|---|---|---|---|---|---|');
const f = (x) => x.toFixed(3);
for (const r of rows)
  console.log(
    `| ${r.M} | ${f(r.mean)} | ${f(r.median)} | ${f(r.p10)} | ${(100 * r.below09).toFixed(0)}% | ${f(r.outputPearson)} | ${f(r.rise)} |`,
  );
void join;
