import {
  accumulateMoments,
  columnValues,
  createMoments,
  LayerSummarySchema,
  MOMENTS_METADATA_KEY,
  type Moments,
  makeTable,
  mergeMoments,
  momentsSchema,
  type OutputMoments,
  parquetToTable,
  SummarySchema,
  tableToParquet,
  UserError,
} from '@neuronscope/core';
import { describe, expect, it } from 'vitest';
import { computeMetrics, METRIC_DEFINITIONS, METRICS, type MetricsResult } from './index.js';

// ---------------------------------------------------------------------------------------------------------------
// Fixture: raw activations per copy -> moments tables, the way `extract` builds them.

interface LayerData {
  layer: string;
  channels: number;
  units: number;
  /** values[copy]: channels * units float32 activations, channel-major. */
  values: Float32Array[];
  /** Shift of the unit moments; default: the clean copy's activations (copy 0). */
  shift?: Float32Array;
}

/** The channel's spatial-mean activation per copy, stored as float32 (as `activations.parquet` does). */
function channelMeans(l: LayerData, copy: number): Float32Array {
  const out = new Float32Array(l.channels);
  for (let c = 0; c < l.channels; c++) {
    let s = 0;
    for (let u = 0; u < l.units; u++) s += l.values[copy]![c * l.units + u]!;
    out[c] = s / l.units;
  }
  return out;
}

/** Accumulates `rows(copy)` over all copies in two workers with uneven batches, then merges them. */
function accumulate(shift: Float32Array, rows: (copy: number) => Float32Array, yCentred: number[]): Moments {
  const size = shift.length;
  const n = yCentred.length;
  const half = Math.floor(n / 2);
  const workers = [
    [0, half],
    [half, n],
  ] as const;
  const [total, ...rest] = workers.map(([from, to]) => {
    const m = createMoments(shift);
    for (let start = from; start < to; start += 7) {
      const batch = Math.min(7, to - start);
      const values = new Float32Array(batch * size);
      for (let b = 0; b < batch; b++) values.set(rows(start + b), b * size);
      accumulateMoments(m, values, yCentred.slice(start, start + batch), batch);
    }
    return m;
  });
  for (const m of rest) mergeMoments(total!, m);
  return total!;
}

function buildTables(layers: LayerData[], y: number[], output: Partial<OutputMoments> = {}, withMetadata = true) {
  const n = y.length;
  const yShift = y[0]!;
  const yCentred = y.map((v) => v - yShift);
  const outputMoments: OutputMoments = {
    count: n,
    yShift,
    sumY: yCentred.reduce((s, e) => s + e, 0),
    sumYY: yCentred.reduce((s, e) => s + e * e, 0),
    target: 3,
    output: 'prob',
    ...output,
  };
  const metadata = { [MOMENTS_METADATA_KEY]: JSON.stringify(outputMoments) };
  const build = (kind: 'unit' | 'channel') => {
    const blocks = layers.map((l) => {
      const m =
        kind === 'unit'
          ? accumulate(l.shift ?? l.values[0]!, (k) => l.values[k]!, yCentred)
          : accumulate(channelMeans(l, 0), (k) => channelMeans(l, k), yCentred);
      return { l, m, perChannel: kind === 'unit' ? l.units : 1 };
    });
    const rows = blocks.reduce((s, b) => s + b.m.shift.length, 0);
    const layerIdx = new Int32Array(rows);
    const channel = new Int32Array(rows);
    const unit = new Int32Array(rows);
    const shift = new Float32Array(rows);
    const sumA = new Float64Array(rows);
    const sumAA = new Float64Array(rows);
    const sumAY = new Float64Array(rows);
    let row = 0;
    blocks.forEach(({ m, perChannel }, k) => {
      for (let i = 0; i < m.shift.length; i++, row++) {
        layerIdx[row] = k;
        channel[row] = Math.floor(i / perChannel);
        unit[row] = i % perChannel;
      }
      const at = row - m.shift.length;
      shift.set(m.shift, at);
      sumA.set(m.sumA, at);
      sumAA.set(m.sumAA, at);
      sumAY.set(m.sumAY, at);
    });
    const columns = {
      // A copy: two columns sharing one typed array make tableToIPC write a corrupt stream.
      layer: { indices: layerIdx.slice(), dictionary: layers.map((l) => l.layer) },
      layer_index: layerIdx,
      channel,
      ...(kind === 'unit' ? { unit } : {}),
      shift,
      sum_a: sumA,
      sum_aa: sumAA,
      sum_ay: sumAY,
    };
    return makeTable(momentsSchema(kind), columns, rows, withMetadata ? metadata : undefined);
  };
  return { unitStats: build('unit'), channelStats: build('channel') };
}

// ---------------------------------------------------------------------------------------------------------------
// Independent reference: plain two-pass statistics straight from the raw activation arrays.

interface ReferenceNeuron {
  layerIndex: number;
  channel: number;
  correlation: number;
  correlationChannel: number;
  precision: number;
  snr: number;
  meanActivation: number;
}

/** Two-pass population statistics of one series against y; r is NaN when either series is constant. */
function twoPass(a: number[], y: number[]): { mean: number; variance: number; r: number } {
  const n = a.length;
  const constant = (v: number[]) => v.every((x) => x === v[0]);
  const ma = a.reduce((s, x) => s + x, 0) / n;
  const my = y.reduce((s, x) => s + x, 0) / n;
  let saa = 0;
  let syy = 0;
  let say = 0;
  for (let k = 0; k < n; k++) {
    saa += (a[k]! - ma) ** 2;
    syy += (y[k]! - my) ** 2;
    say += (a[k]! - ma) * (y[k]! - my);
  }
  const variance = constant(a) ? 0 : saa / n;
  const r = constant(a) || constant(y) ? Number.NaN : say / n / Math.sqrt((saa / n) * (syy / n));
  return { mean: ma, variance, r };
}

function reference(layers: LayerData[], y: number[]): ReferenceNeuron[] {
  const out: ReferenceNeuron[] = [];
  const n = y.length;
  layers.forEach((l, layerIndex) => {
    for (let c = 0; c < l.channels; c++) {
      let sumAbsR = 0;
      let countR = 0;
      let sumVar = 0;
      let sumMean = 0;
      for (let u = 0; u < l.units; u++) {
        const a = Array.from({ length: n }, (_, k) => l.values[k]![c * l.units + u]!);
        const s = twoPass(a, y);
        if (!Number.isNaN(s.r)) {
          sumAbsR += Math.abs(s.r);
          countR++;
        }
        sumVar += s.variance;
        sumMean += s.mean;
      }
      const meanVar = sumVar / l.units;
      const meanActivation = sumMean / l.units;
      const channelSeries = Array.from({ length: n }, (_, k) => channelMeans(l, k)[c]!);
      out.push({
        layerIndex,
        channel: c,
        correlation: countR === 0 ? Number.NaN : sumAbsR / countR,
        correlationChannel: Math.abs(twoPass(channelSeries, y).r),
        precision: 1 / meanVar,
        snr: meanActivation ** 2 / meanVar,
        meanActivation,
      });
    }
  });
  return out;
}

/** Reference top-k: sort by value descending, then layer, then channel. */
function referenceTop(neurons: ReferenceNeuron[], value: (n: ReferenceNeuron) => number, topK: number) {
  return [...neurons]
    .sort((a, b) => value(b) - value(a) || a.layerIndex - b.layerIndex || a.channel - b.channel)
    .slice(0, topK);
}

/** Reference Spearman: rank = 1 + #smaller + (#equal - 1) / 2, then two-pass Pearson. */
function referenceSpearman(x: number[], y: number[]): number | null {
  if (x.length < 3) return null;
  const rank = (v: number[]) =>
    v.map((a) => 1 + v.filter((b) => b < a).length + (v.filter((b) => b === a).length - 1) / 2);
  const r = twoPass(rank(x), rank(y)).r;
  return Number.isNaN(r) ? null : r;
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers.

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normal(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

function expectClose(actual: number, expected: number, rel = 1e-9, abs = 1e-13): void {
  if (Number.isNaN(expected) || !Number.isFinite(expected)) {
    expect(actual).toBe(expected);
    return;
  }
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(abs + rel * Math.abs(expected));
}

function neuronColumns(result: MetricsResult) {
  const t = result.neurons;
  const f64 = (name: string) => Array.from(columnValues<number>(t, name));
  return {
    layer: Array.from(columnValues<string>(t, 'layer')),
    layerIndex: f64('layer_index'),
    channel: f64('channel'),
    correlation: f64('correlation'),
    correlationChannel: f64('correlation_channel'),
    precision: f64('precision'),
    snr: f64('snr'),
    meanActivation: f64('mean_activation'),
    eligible: Array.from(columnValues<boolean>(t, 'eligible')),
    rankCorrelation: Array.from(
      { length: t.numRows },
      (_, i) => t.getChild('rank_correlation')!.get(i) as number | null,
    ),
    rankPrecision: Array.from({ length: t.numRows }, (_, i) => t.getChild('rank_precision')!.get(i) as number | null),
    selectedCorrelation: Array.from(columnValues<boolean>(t, 'selected_correlation')),
    selectedPrecision: Array.from(columnValues<boolean>(t, 'selected_precision')),
    globalRankCorrelation: Array.from(
      { length: t.numRows },
      (_, i) => t.getChild('global_rank_correlation')!.get(i) as number | null,
    ),
    globalRankPrecision: Array.from(
      { length: t.numRows },
      (_, i) => t.getChild('global_rank_precision')!.get(i) as number | null,
    ),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The random fixture: 2 layers, with NaN units, a constant channel, large-mean and tiny-scale channels.

const N = 64;
const CONV1 = { layer: 'conv1/Relu:0', channels: 6, units: 6 }; // 2 x 3
const CONV2 = { layer: 'conv2/Relu:0', channels: 4, units: 4 }; // 2 x 2

function randomFixture(seed = 1234, yConstant = false) {
  const rand = mulberry32(seed);
  const gauss = normal(rand);
  const z = Array.from({ length: N }, gauss);
  const y = z.map((v) => (yConstant ? 0.7 : 1 / (1 + Math.exp(-(0.3 + v)))));
  const w1 = Array.from({ length: CONV1.channels * CONV1.units }, () => gauss());
  const w2 = Array.from({ length: CONV2.channels * CONV2.units }, () => gauss());
  const conv1: LayerData = { ...CONV1, values: [] };
  const conv2: LayerData = { ...CONV2, values: [] };
  for (let k = 0; k < N; k++) {
    const v1 = new Float32Array(CONV1.channels * CONV1.units);
    for (let c = 0; c < CONV1.channels; c++) {
      for (let u = 0; u < CONV1.units; u++) {
        const i = c * CONV1.units + u;
        if (c === 1 && u === 2)
          v1[i] = 0; // dead unit: NaN r
        else if (c === 1 && u === 4)
          v1[i] = 0.37; // constant unit: NaN r
        else if (c === 3)
          v1[i] = 0.2 + 0.1 * u; // constant channel: correlation NaN, precision Infinity
        else if (c === 4)
          v1[i] = 0.02 + 0.01 * (w1[i]! * z[k]! + gauss()); // small mean: not eligible
        else v1[i] = Math.max(0, 0.5 + 0.3 * c + w1[i]! * 0.4 * z[k]! + 0.3 * gauss()); // ReLU
      }
    }
    const v2 = new Float32Array(CONV2.channels * CONV2.units);
    for (let c = 0; c < CONV2.channels; c++) {
      for (let u = 0; u < CONV2.units; u++) {
        const i = c * CONV2.units + u;
        if (c === 0)
          v2[i] = 1e4 + 1e-3 * (gauss() + w2[i]! * z[k]!); // large mean, tiny variance
        else if (c === 2)
          v2[i] = 1e-20 * (gauss() + w2[i]! * z[k]!); // tiny scale
        else if (c === 3 && u === 1)
          v2[i] = k === 5 ? 0.5000000596046448 : 0.5; // one copy differs by 1 ulp
        else v2[i] = 1 + 0.5 * c + 0.2 * w2[i]! * z[k]! + 0.1 * gauss();
      }
    }
    conv1.values.push(v1);
    conv2.values.push(v2);
  }
  return { layers: [conv1, conv2], y };
}

// ---------------------------------------------------------------------------------------------------------------

describe('computeMetrics on random data', () => {
  const { layers, y } = randomFixture();
  const { unitStats, channelStats } = buildTables(layers, y);
  const config = { topK: 3, eligibility: 0.1 };
  const result = computeMetrics(unitStats, channelStats, config);
  const got = neuronColumns(result);
  const ref = reference(layers, y);

  it('reproduces an independent two-pass computation to 1e-9', () => {
    expect(result.neurons.numRows).toBe(CONV1.channels + CONV2.channels);
    expect(got.layer).toEqual([...Array(6).fill(CONV1.layer), ...Array(4).fill(CONV2.layer)]);
    expect(got.layerIndex).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
    expect(got.channel).toEqual([0, 1, 2, 3, 4, 5, 0, 1, 2, 3]);
    ref.forEach((r, i) => {
      expectClose(got.correlation[i]!, r.correlation);
      expectClose(got.correlationChannel[i]!, r.correlationChannel);
      expectClose(got.precision[i]!, r.precision);
      expectClose(got.snr[i]!, r.snr);
      expectClose(got.meanActivation[i]!, r.meanActivation, 1e-12);
      expect(got.eligible[i]).toBe(r.meanActivation >= 0.1);
    });
    // The fixture's special cases are what they are meant to be.
    expect(Number.isNaN(ref[3]!.correlation)).toBe(true);
    expect(ref[3]!.precision).toBe(Number.POSITIVE_INFINITY);
    expect(ref[4]!.meanActivation).toBeLessThan(0.1);
    expect(ref[6]!.precision).toBeGreaterThan(1e5);
    expect(ref[8]!.precision).toBeGreaterThan(1e38);
    expect(ref[8]!.correlation).toBeGreaterThan(0.1);
  });

  it('ignores NaN units in the correlation and treats a constant channel as undefined / infinitely precise', () => {
    // conv1 channel 1: units 2 and 4 are constant.
    const units = Array.from({ length: CONV1.units }, (_, u) =>
      twoPass(
        layers[0]!.values.map((v) => v[1 * CONV1.units + u]!),
        y,
      ),
    );
    expect(units.map((s) => Number.isNaN(s.r))).toEqual([false, false, true, false, true, false]);
    const mean = units.filter((s) => !Number.isNaN(s.r)).reduce((s, u) => s + Math.abs(u.r), 0) / 4;
    expectClose(got.correlation[1]!, mean);
    expect(got.correlation[3]).toBeNaN();
    expect(got.correlationChannel[3]).toBeNaN();
    expect(got.precision[3]).toBe(Number.POSITIVE_INFINITY);
    expect(got.snr[3]).toBe(Number.POSITIVE_INFINITY);
    expect(got.rankCorrelation[3]).toBeNull();
    expect(got.rankPrecision[3]).toBe(1);
    expect(got.globalRankPrecision[3]).toBe(1);
  });

  it('keeps a tiny but real variance: one copy 1 ulp away', () => {
    // conv2 channel 3 unit 1 is 0.5 except one copy; r is defined there, so it enters the correlation.
    const a = layers[1]!.values.map((v) => v[3 * CONV2.units + 1]!);
    const s = twoPass(a, y);
    expect(s.variance).toBeGreaterThan(0);
    expect(Number.isNaN(s.r)).toBe(false);
    expectClose(got.correlation[9]!, ref[9]!.correlation);
  });

  it('is exact for a large mean with a small variance thanks to the shift; unshifted sums are not', () => {
    // conv2 channel 0: 1e4 + 1e-3 * noise in float32.
    const a = layers[1]!.values.map((v) => v[0]!);
    const exact = twoPass(a, y).variance;
    expect(exact).toBeGreaterThan(1e-8);
    // Naive float64 sums of a and a^2 (no shift): catastrophic cancellation.
    let s1 = 0;
    let s2 = 0;
    // ... and float32-style sums, as a float32 accumulator would give.
    let f1 = 0;
    let f2 = 0;
    for (const x of a) {
      s1 += x;
      s2 += x * x;
      f1 = Math.fround(f1 + x);
      f2 = Math.fround(f2 + Math.fround(x * x));
    }
    const naive64 = s2 / N - (s1 / N) ** 2;
    const naive32 = Math.fround(f2 / N) - Math.fround(f1 / N) ** 2;
    expect(Math.abs(naive64 - exact) / exact).toBeGreaterThan(1e-6);
    expect(Math.abs(naive32 - exact) / exact).toBeGreaterThan(0.5);
    // The shifted sums: relative error < 1e-9 for precision (1 / mean variance) and r.
    expectClose(got.precision[6]!, ref[6]!.precision, 1e-9, 0);
    expectClose(got.correlation[6]!, ref[6]!.correlation, 1e-9, 0);
    expectClose(got.correlationChannel[6]!, ref[6]!.correlationChannel, 1e-9, 0);

    // The same pipeline with a zero shift cannot recover the variance: it is within rounding error, so the
    // zero-variance rule reports it as 0 (precision Infinity, r undefined) rather than returning noise.
    const unshifted = buildTables([layers[0]!, { ...layers[1]!, shift: new Float32Array(16) }], y);
    const bad = neuronColumns(computeMetrics(unshifted.unitStats, unshifted.channelStats, config));
    expect(Math.abs(bad.precision[6]! - ref[6]!.precision) / ref[6]!.precision).toBeGreaterThan(1e-6);
    expectClose(bad.precision[7]!, ref[7]!.precision, 1e-6); // moderate means survive without the shift
  });

  it('ranks and selects per layer and globally like an independent sort', () => {
    for (const [layerIndex, channels] of [
      [0, 6],
      [1, 4],
    ] as const) {
      const base = layerIndex === 0 ? 0 : 6;
      const layerRef = ref.filter((r) => r.layerIndex === layerIndex);
      const byCorr = referenceTop(
        layerRef.filter((r) => !Number.isNaN(r.correlation)),
        (r) => r.correlation,
        3,
      );
      const byPrec = referenceTop(
        layerRef.filter((r) => r.meanActivation >= 0.1),
        (r) => r.precision,
        3,
      );
      const summary = result.layers[layerIndex]!;
      expect(summary.channels).toBe(channels);
      expect(summary.byCorrelation.map((s) => s.channel)).toEqual(byCorr.map((r) => r.channel));
      expect(summary.byPrecision.map((s) => s.channel)).toEqual(byPrec.map((r) => r.channel));
      expect(summary.eligible).toBe(layerRef.filter((r) => r.meanActivation >= 0.1).length);
      for (let c = 0; c < channels; c++) {
        expect(got.selectedCorrelation[base + c]).toBe(byCorr.some((r) => r.channel === c));
        expect(got.selectedPrecision[base + c]).toBe(byPrec.some((r) => r.channel === c));
      }
      const inter = byCorr.filter((a) => byPrec.some((b) => b.channel === a.channel)).length;
      expect(summary.comparison.overlap).toBeCloseTo(inter / (byCorr.length + byPrec.length), 15);
      expect(summary.comparison.jaccard).toBeCloseTo(inter / (byCorr.length + byPrec.length - inter), 15);
      const both = layerRef.filter(
        (r) => !Number.isNaN(r.correlation) && r.meanActivation >= 0.1 && Number.isFinite(r.precision),
      );
      expect(summary.comparison.spearmanCount).toBe(both.length);
      const rho = referenceSpearman(
        both.map((r) => r.correlation),
        both.map((r) => r.precision),
      );
      if (rho === null) expect(summary.comparison.spearman).toBeNull();
      else expectClose(summary.comparison.spearman!, rho, 1e-12);
    }
    // conv2: channel 2 (tiny scale) is not eligible; channel 0 is: eligible = 3.
    expect(result.layers[1]!.eligible).toBe(3);

    // Global.
    const globalCorr = referenceTop(
      ref.filter((r) => !Number.isNaN(r.correlation)),
      (r) => r.correlation,
      3,
    );
    const globalPrec = referenceTop(
      ref.filter((r) => r.meanActivation >= 0.1),
      (r) => r.precision,
      3,
    );
    expect(result.global.byCorrelation.map((g) => [g.layerIndex, g.channel])).toEqual(
      globalCorr.map((r) => [r.layerIndex, r.channel]),
    );
    expect(result.global.byPrecision.map((g) => [g.layerIndex, g.channel])).toEqual(
      globalPrec.map((r) => [r.layerIndex, r.channel]),
    );
    expect(result.global.byCorrelation[0]!.layer).toBe(globalCorr[0]!.layerIndex === 0 ? CONV1.layer : CONV2.layer);
    expectClose(result.global.byCorrelation[0]!.value!, globalCorr[0]!.correlation);
    // conv1 channel 3 has infinite precision: first, with value null (JSON has no Infinity).
    expect(result.global.byPrecision[0]).toEqual({ layer: CONV1.layer, layerIndex: 0, channel: 3, value: null });
    const rankedCorr = ref
      .map((r, i) => ({ r, i }))
      .filter(({ r }) => !Number.isNaN(r.correlation))
      .sort((a, b) => b.r.correlation - a.r.correlation || a.i - b.i);
    const expectedGlobal = ref.map((_, i) => {
      const k = rankedCorr.findIndex((e) => e.i === i);
      return k < 0 ? null : k + 1;
    });
    expect(got.globalRankCorrelation).toEqual(expectedGlobal);

    // Total: union of the per-layer selections, Spearman pooled over all neurons.
    const selCorr = got.selectedCorrelation.flatMap((s, i) => (s ? [i] : []));
    const selPrec = got.selectedPrecision.flatMap((s, i) => (s ? [i] : []));
    const inter = selCorr.filter((i) => selPrec.includes(i)).length;
    expect(result.total.selectedByCorrelation).toBe(selCorr.length);
    expect(result.total.selectedByPrecision).toBe(selPrec.length);
    expect(result.total.overlap).toBeCloseTo(inter / (selCorr.length + selPrec.length), 15);
    expect(result.total.jaccard).toBeCloseTo(inter / (selCorr.length + selPrec.length - inter), 15);
    const pooled = ref.filter(
      (r) => !Number.isNaN(r.correlation) && r.meanActivation >= 0.1 && Number.isFinite(r.precision),
    );
    expect(result.total.spearmanCount).toBe(pooled.length);
    expectClose(
      result.total.spearman!,
      referenceSpearman(
        pooled.map((r) => r.correlation),
        pooled.map((r) => r.precision),
      )!,
      1e-12,
    );
  });

  it('writes JSON-safe summaries: null for undefined correlation and infinite precision', () => {
    const conv1 = result.layers[0]!;
    expect(conv1.byPrecision[0]).toEqual({
      channel: 3,
      correlation: null,
      precision: null,
      meanActivation: got.meanActivation[3],
    });
    expect(JSON.parse(JSON.stringify(result.layers))).toEqual(result.layers);
    expect(result.output).toEqual({
      count: N,
      yShift: y[0],
      sumY: expect.any(Number),
      sumYY: expect.any(Number),
      target: 3,
      output: 'prob',
    });
    expect(conv1.units).toBe(6);
    expect(conv1).not.toHaveProperty('height');
  });
});

describe('computeMetrics edge cases', () => {
  it('leaves every correlation undefined when y does not vary', () => {
    const { layers, y } = randomFixture(99, true);
    const { unitStats, channelStats } = buildTables(layers, y);
    const result = computeMetrics(unitStats, channelStats, { topK: 2, eligibility: 0.1 });
    const got = neuronColumns(result);
    const ref = reference(layers, y);
    expect(got.correlation.every(Number.isNaN)).toBe(true);
    expect(got.correlationChannel.every(Number.isNaN)).toBe(true);
    expect(got.rankCorrelation.every((r) => r === null)).toBe(true);
    expect(got.selectedCorrelation.some(Boolean)).toBe(false);
    ref.forEach((r, i) => {
      expectClose(got.precision[i]!, r.precision);
    });
    for (const l of result.layers) {
      expect(l.byCorrelation).toEqual([]);
      expect(l.byPrecision).toHaveLength(2);
      expect(l.comparison).toEqual({ overlap: 0, jaccard: 0, spearman: null, spearmanCount: 0 });
    }
    expect(result.total).toEqual({
      overlap: 0,
      jaccard: 0,
      spearman: null,
      spearmanCount: 0,
      selectedByCorrelation: 0,
      selectedByPrecision: 4,
    });
    expect(result.global.byCorrelation).toEqual([]);
  });

  it('treats a constant unit as zero-variance even when its shift is not one of its values', () => {
    // All copies 0.3 but shifted by 1.2345678: d is the same nonzero number in every copy, and the
    // rounded sums leave a spurious variance of a few ulps that must not become a correlation.
    const y = Array.from({ length: N }, (_, k) => 0.5 + 0.4 * Math.sin(k));
    const values = Array.from({ length: N }, () => Float32Array.from([0.3, 0.3]));
    const layer: LayerData = {
      layer: 'c',
      channels: 1,
      units: 2,
      values,
      shift: Float32Array.from([1.2345678, -7.654321]),
    };
    const { unitStats, channelStats } = buildTables([layer], y);
    const sumA = columnValues<number>(unitStats, 'sum_a');
    const sumAA = columnValues<number>(unitStats, 'sum_aa');
    const spurious = [0, 1].map((i) => sumAA[i]! / N - (sumA[i]! / N) ** 2);
    expect(spurious.some((v) => v !== 0)).toBe(true);
    const got = neuronColumns(computeMetrics(unitStats, channelStats, { topK: 1, eligibility: 0.1 }));
    expect(got.correlation[0]).toBeNaN();
    expect(got.precision[0]).toBe(Number.POSITIVE_INFINITY);
    expectClose(got.meanActivation[0]!, Math.fround(0.3), 1e-15);
  });

  it('breaks ties by lower channel, then lower layer, and ranks infinite precision first', () => {
    const n = 8;
    const y = [0.5, 0.6, 0.4, 0.7, 0.3, 0.8, 0.55, 0.45];
    const s = (k: number, u: number) => 1 + 0.1 * y[k]! + 0.01 * ((k * (u + 3)) % 5);
    const t = (k: number, u: number) => 2 + 0.05 * ((k * (u + 2)) % 7);
    const make = (name: string, f: (k: number, c: number, u: number) => number): LayerData => ({
      layer: name,
      channels: 3,
      units: 4,
      values: Array.from({ length: n }, (_, k) =>
        Float32Array.from({ length: 12 }, (_, i) => f(k, Math.floor(i / 4), i % 4)),
      ),
    });
    // a: channels 0 and 1 identical; b: channel 0 identical to a's, channels 1 and 2 constant.
    const a = make('a', (k, c, u) => (c < 2 ? s(k, u) : t(k, u)));
    const b = make('b', (k, c, u) => (c === 0 ? s(k, u) : 0.5));
    const { unitStats, channelStats } = buildTables([a, b], y);
    const result = computeMetrics(unitStats, channelStats, { topK: 2, eligibility: 0.1 });
    const got = neuronColumns(result);
    expect(got.correlation[0]).toBe(got.correlation[1]);
    expect(got.correlation[0]).toBe(got.correlation[3]);
    expect(got.precision[0]).toBe(got.precision[3]);
    expect(got.correlation[0]).toBeGreaterThan(got.correlation[2]!);

    expect(got.rankCorrelation).toEqual([1, 2, 3, 1, null, null]);
    expect(got.selectedCorrelation).toEqual([true, true, false, true, false, false]);
    expect(got.globalRankCorrelation).toEqual([1, 2, 4, 3, null, null]);
    const precisionOrderA = got.precision[0]! > got.precision[2]! ? [1, 2, 3] : [2, 3, 1];
    expect(got.rankPrecision).toEqual([...precisionOrderA, 3, 1, 2]);
    expect(got.globalRankPrecision.slice(4)).toEqual([1, 2]);
    expect(got.globalRankPrecision[0]! < got.globalRankPrecision[1]!).toBe(true);
    expect(got.globalRankPrecision[1]! < got.globalRankPrecision[3]!).toBe(true);
    expect(result.global.byCorrelation.map((g) => `${g.layer}/${g.channel}`)).toEqual(['a/0', 'a/1']);
    expect(result.global.byPrecision.map((g) => `${g.layer}/${g.channel}:${g.value}`)).toEqual([
      'b/1:null',
      'b/2:null',
    ]);
    expect(result.layers[1]!.comparison).toEqual({ overlap: 0, jaccard: 0, spearman: null, spearmanCount: 1 });
  });

  it('applies the eligibility threshold inclusively', () => {
    const n = 16;
    const y = Array.from({ length: n }, (_, k) => 0.2 + 0.05 * k);
    // Channel means exactly 0.0625, 0.25, 0.5 (float32-exact), each with some variance around them.
    const means = [0.0625, 0.25, 0.5];
    const layer: LayerData = {
      layer: 'c',
      channels: 3,
      units: 2,
      values: Array.from({ length: n }, (_, k) =>
        Float32Array.from({ length: 6 }, (_, i) => means[Math.floor(i / 2)]! + (k % 2 === 0 ? 1 : -1) / 1024),
      ),
    };
    const { unitStats, channelStats } = buildTables([layer], y);
    const at = (eligibility: number) =>
      neuronColumns(computeMetrics(unitStats, channelStats, { topK: 1, eligibility }));
    expect(at(0.1).meanActivation).toEqual(means);
    expect(at(0.1).eligible).toEqual([false, true, true]);
    expect(at(0.25).eligible).toEqual([false, true, true]);
    expect(at(0.2500001).eligible).toEqual([false, false, true]);
    expect(at(0).eligible).toEqual([true, true, true]);
    expect(at(0.25).rankPrecision).toEqual([null, 1, 2]);
    expect(at(1).rankPrecision).toEqual([null, null, null]);
    expect(at(1).selectedPrecision).toEqual([false, false, false]);
  });

  it('reads tables in several record batches and after a Parquet round trip', () => {
    const { layers, y } = randomFixture();
    const { unitStats, channelStats } = buildTables(layers, y);
    const config = { topK: 3, eligibility: 0.1 };
    const expected = neuronColumns(computeMetrics(unitStats, channelStats, config));
    // Batch boundaries inside a channel, at the layer boundary and inside the second layer.
    const cuts = [0, 7, 36, 41, unitStats.numRows];
    const pieces = cuts.slice(1).map((end, i) => unitStats.slice(cuts[i], end));
    const batched = pieces.slice(1).reduce((t, p) => t.concat(p), pieces[0]!);
    expect(batched.batches.length).toBe(4);
    const channelBatched = channelStats.slice(0, 3).concat(channelStats.slice(3));
    const fromBatches = neuronColumns(computeMetrics(batched, channelBatched, config));
    expect(fromBatches).toEqual(expected);
    const fromParquet = neuronColumns(
      computeMetrics(parquetToTable(tableToParquet(unitStats)), parquetToTable(tableToParquet(channelStats)), config),
    );
    expect(fromParquet).toEqual(expected);
    // neurons.parquet itself survives Parquet (NaN, Infinity, nulls).
    const result = computeMetrics(unitStats, channelStats, config);
    const back = parquetToTable(tableToParquet(result.neurons));
    expect(neuronColumns({ ...result, neurons: back })).toEqual(expected);
  });

  it('rejects a top-k larger than a layer', () => {
    const { layers, y } = randomFixture();
    const { unitStats, channelStats } = buildTables(layers, y);
    const run = () => computeMetrics(unitStats, channelStats, { topK: 5, eligibility: 0.1 });
    expect(run).toThrow(UserError);
    expect(run).toThrow("--top-k 5 is larger than layer conv2/Relu:0's 4 channels");
    expect(() => computeMetrics(unitStats, channelStats, { topK: 4, eligibility: 0.1 })).not.toThrow();
  });

  it('fills and checks layer shapes', () => {
    const { layers, y } = randomFixture();
    const { unitStats, channelStats } = buildTables(layers, y);
    const config = { topK: 2, eligibility: 0.1 };
    const shapes = new Map([
      [CONV1.layer, { height: 2, width: 3 }],
      [CONV2.layer, { height: 2, width: 2 }],
    ]);
    const result = computeMetrics(unitStats, channelStats, config, shapes);
    expect(result.layers.map((l) => [l.height, l.width, l.units])).toEqual([
      [2, 3, 6],
      [2, 2, 4],
    ]);
    // The summary parts validate against core's schemas (conv1 channel 3 has precision null there).
    expect(LayerSummarySchema.array().parse(result.layers)).toHaveLength(2);
    expect(SummarySchema.shape.total.parse(result.total)).toEqual(result.total);
    const byCorrelation = SummarySchema.shape.global.shape.byCorrelation;
    expect(byCorrelation.parse(result.global.byCorrelation)).toEqual(result.global.byCorrelation);
    shapes.set(CONV2.layer, { height: 2, width: 3 });
    expect(() => computeMetrics(unitStats, channelStats, config, shapes)).toThrow(
      'layer conv2/Relu:0 is 2x3 but its statistics have 4 units per channel',
    );
    shapes.delete(CONV2.layer);
    expect(() => computeMetrics(unitStats, channelStats, config, shapes)).toThrow(UserError);
  });

  it('rejects tables that disagree or are out of order', () => {
    const { layers, y } = randomFixture();
    const config = { topK: 2, eligibility: 0.1 };
    const a = buildTables(layers, y);
    const b = buildTables(layers, y, { target: 4 });
    expect(() => computeMetrics(a.unitStats, b.channelStats, config)).toThrow(/different runs/);
    // Units of another shape: conv2 with 2 units per channel.
    const c = buildTables([layers[0]!, { ...layers[1]!, channels: 8, units: 2 }], y);
    expect(() => computeMetrics(c.unitStats, a.channelStats, config)).toThrow(
      'unit statistics: rows of layer conv2/Relu:0 are not 4 channels of 4 units each, ordered by channel and unit',
    );
    // A truncated unit table.
    const truncated = a.unitStats.slice(0, CONV1.channels * CONV1.units);
    expect(() => computeMetrics(truncated, a.channelStats, config)).toThrow(/conv2.* do not match/);
    // Rows out of order: units 0 and 1 of the first channel swapped.
    const unit = Int32Array.from(columnValues<number>(a.unitStats, 'unit'));
    [unit[0], unit[1]] = [unit[1]!, unit[0]!];
    const swapped = makeTable(
      momentsSchema('unit'),
      {
        layer: {
          indices: Int32Array.from(columnValues<number>(a.unitStats, 'layer_index')),
          dictionary: [CONV1.layer, CONV2.layer],
        },
        layer_index: Int32Array.from(columnValues<number>(a.unitStats, 'layer_index')),
        channel: Int32Array.from(columnValues<number>(a.unitStats, 'channel')),
        unit,
        shift: Float32Array.from(columnValues<number>(a.unitStats, 'shift')),
        sum_a: Float64Array.from(columnValues<number>(a.unitStats, 'sum_a')),
        sum_aa: Float64Array.from(columnValues<number>(a.unitStats, 'sum_aa')),
        sum_ay: Float64Array.from(columnValues<number>(a.unitStats, 'sum_ay')),
      },
      a.unitStats.numRows,
      { [MOMENTS_METADATA_KEY]: a.unitStats.schema.metadata.get(MOMENTS_METADATA_KEY)! },
    );
    expect(() => computeMetrics(swapped, a.channelStats, config)).toThrow(/conv1.* not 6 channels of 6 units each/);
    const noMeta = buildTables(layers, y, {}, false);
    expect(() => computeMetrics(a.unitStats, noMeta.channelStats, config)).toThrow(
      'channel statistics: metadata neuronscope.moments is missing',
    );
  });
});

describe('definitions', () => {
  it('defines every metric column and the derived quantities', () => {
    for (const m of METRICS) expect(METRIC_DEFINITIONS[m.column]).toBe(m.definition);
    for (const key of ['moments', 'zero_variance', 'pearson', 'eligible', 'rank', 'overlap', 'jaccard', 'spearman']) {
      expect(METRIC_DEFINITIONS[key]).toMatch(/\w/);
    }
    expect(Object.values(METRIC_DEFINITIONS).every((d) => typeof d === 'string')).toBe(true);
  });
});
