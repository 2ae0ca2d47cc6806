import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type InputTensor, type LayerInfo, readParquetFile, tableMetadata, UserError } from '@neuronscope/core';
import { computeMetrics } from '@neuronscope/metrics';
import {
  createSession,
  layerShapes,
  loadImage,
  loadModel,
  recordableLayers,
  resolvePreprocessing,
  withExtraOutputs,
} from '@neuronscope/model';
import { type CopyRecord, perturbationTable, readPerturbationTable, resolvePerturbation } from '@neuronscope/perturb';
import { beforeAll, describe, expect, it } from 'vitest';
import { requires, shared } from '../../../test/support/env.js';
import { tinyConvModel } from '../../model/test/fixtures.js';
import { extract } from './extract.js';
import { extractParallel, parallelism, type StoppingSettings } from './parallel.js';
import { checkSchedule, createFlatSums, stratifiedOrder, topKSets, topKSetsWithHalves } from './stopping.js';

const SQUEEZENET = shared.squeezenet;
const TABLES = ['outputs.parquet', 'activations.parquet', 'unit_stats.parquet', 'channel_stats.parquet'];

describe('stopping schedule and order', () => {
  it('runs copy 0 first and spreads every prefix over the whole range', () => {
    expect(stratifiedOrder(10)).toEqual([0, 8, 4, 2, 6, 1, 9, 5, 3, 7]);
    for (const n of [1, 3, 64, 100, 1000]) {
      const order = stratifiedOrder(n);
      expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    }
    // The first quarter of 1000 copies covers every tenth of the range.
    const prefix = stratifiedOrder(1000).slice(0, 250);
    for (let decile = 0; decile < 10; decile++) {
      expect(prefix.filter((c) => Math.floor(c / 100) === decile).length).toBeGreaterThan(15);
    }
  });

  it('checks on batch boundaries, growing, up to the maximum', () => {
    expect(checkSchedule({ minSamples: 48, growth: 1.25 }, 8, 200)).toEqual([48, 64, 80, 104, 136, 176, 200]);
    expect(checkSchedule({ minSamples: 48, growth: 1.25 }, 8, 30)).toEqual([30]);
    for (const c of checkSchedule({ minSamples: 10, growth: 1.5 }, 4, 99).slice(0, -1)) expect(c % 4).toBe(0);
  });

  it('computes the full and half-sample sets in one pass as three separate passes do', () => {
    const layout = { channels: [6, 4], unitsPerChannel: [5, 9], unitOffsets: [0, 30] };
    const units = 30 + 36;
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const shift = Float32Array.from({ length: units }, () => rand());
    const full = createFlatSums(units);
    const half = createFlatSums(units);
    for (let copy = 0; copy < 40; copy++) {
      const e = rand() - 0.5;
      for (const sums of copy % 2 === 0 ? [full, half] : [full]) {
        sums.count++;
        sums.sumY += e;
        sums.sumYY += e * e;
      }
      for (let u = 0; u < units; u++) {
        const d = (rand() - 0.5) * (1 + (u % 7)) + e * (u % 3);
        for (const sums of copy % 2 === 0 ? [full, half] : [full]) {
          sums.sumA[u] += d;
          sums.sumAA[u] += d * d;
          sums.sumAY[u] += d * e;
        }
      }
    }
    const rule = { topK: 2, eligibility: 0.3 };
    const [a, b, c] = topKSetsWithHalves(full, half, shift, layout, rule);
    expect(a).toEqual(topKSets(full, null, shift, layout, rule));
    expect(b).toEqual(topKSets(half, null, shift, layout, rule));
    expect(c).toEqual(topKSets(full, half, shift, layout, rule));
  });

  it('fills the cores with the defaults', () => {
    expect(parallelism(undefined, undefined, 2)).toEqual({ workers: 2, threads: 1 });
    expect(parallelism(undefined, undefined, 16)).toEqual({ workers: 4, threads: 4 });
    expect(parallelism(1, undefined, 2)).toEqual({ workers: 1, threads: 2 });
    expect(parallelism(undefined, 2, 2)).toEqual({ workers: 1, threads: 2 });
    expect(parallelism(3, 3, 2)).toEqual({ workers: 3, threads: 3 });
  });
});

describe('pooled extraction on a tiny model', () => {
  const input: InputTensor = {
    data: Float32Array.from({ length: 3 * 8 * 8 }, (_, i) => Math.sin(i * 0.7) + 0.2),
    layout: 'NCHW',
    channels: 3,
    height: 8,
    width: 8,
  };
  const layers: LayerInfo[] = [
    { layer: 'r1', layerIndex: 0, convNode: 'conv1', op: 'Relu', channels: 4, height: 8, width: 8 },
    { layer: 'c2', layerIndex: 1, convNode: 'conv2', op: 'Conv', channels: 2, height: 8, width: 8 },
  ];
  const spec = resolvePerturbation({ family: 'gaussian', samples: 13, seed: 3, params: {} });
  const copies = readPerturbationTable(perturbationTable(spec, input));
  const job = {
    model: tinyConvModel(),
    inputName: 'image',
    outputName: 'scores',
    input,
    copies,
    layers,
    target: null,
    output: 'logit' as const,
    batchSize: 4,
  };

  it('writes the tables of the in-process reduction, within float32 rounding, and inputs.npy', async () => {
    const pooled = await mkdtemp(join(tmpdir(), 'ns-tiny-'));
    const result = await extractParallel({ ...job, outDir: pooled, workers: 2, dumpInputs: true });
    expect(result.samplesUsed).toBe(13);
    expect(result.files).toContain('inputs.npy');
    const legacy = await mkdtemp(join(tmpdir(), 'ns-tiny-'));
    const session = await createSession(withExtraOutputs(job.model, ['r1', 'c2']));
    await extract({ ...job, session, outDir: legacy, dumpInputs: true });
    await session.release();
    expect(Buffer.compare(await readFile(join(pooled, 'inputs.npy')), await readFile(join(legacy, 'inputs.npy')))).toBe(
      0,
    );
    for (const f of ['unit_stats.parquet', 'channel_stats.parquet']) {
      const [a, b] = [await readParquetFile(join(legacy, f)), await readParquetFile(join(pooled, f))];
      for (const column of ['sum_a', 'sum_aa', 'sum_ay']) {
        const x = a.getChild(column)!.toArray() as Float64Array;
        const y = b.getChild(column)!.toArray() as Float64Array;
        const scale = x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        for (let i = 0; i < x.length; i++) expect(Math.abs(x[i]! - y[i]!) / scale, `${f} ${column}`).toBeLessThan(1e-6);
      }
    }
  });

  it('turns a user error in a worker into a UserError', async () => {
    const broken = copies.map((c, i) => (i === 5 ? { ...c, params: { sigma: -1 } } : c));
    const dir = await mkdtemp(join(tmpdir(), 'ns-tiny-'));
    await expect(extractParallel({ ...job, copies: broken, outDir: dir, workers: 2 })).rejects.toBeInstanceOf(
      UserError,
    );
  });

  it('with auto, is not stable when the rule never holds: one check only, all the copies run', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-tiny-'));
    // 13 copies, checks from 48 on: the only check is at the maximum, and a first check is never stable.
    const auto = { topK: 1, eligibility: -1, minSamples: 48, agreement: 0 };
    const result = await extractParallel({ ...job, outDir: dir, workers: 1, auto });
    expect(result.checks.map((c) => [c.samples, c.stable])).toEqual([[13, false]]);
    expect(result.stable).toBe(false);
    expect(result.samplesUsed).toBe(13);
  });

  it('without auto, has no stable flag and runs every copy', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-tiny-'));
    const result = await extractParallel({ ...job, outDir: dir, workers: 1 });
    expect(result.stable).toBeNull();
    expect(result.checks).toEqual([]);
    expect(result.samplesUsed).toBe(13);
  });

  it('with auto and inputs.npy, shortens the array to the copies that ran', async () => {
    const many = readPerturbationTable(
      perturbationTable(resolvePerturbation({ family: 'gaussian', samples: 40, seed: 3, params: {} }), input),
    );
    const dir = await mkdtemp(join(tmpdir(), 'ns-tiny-'));
    const auto = { topK: 1, eligibility: -1, minSamples: 8, agreement: 0 };
    const result = await extractParallel({ ...job, copies: many, outDir: dir, workers: 1, dumpInputs: true, auto });
    // Agreement 0: the second check (the first with a previous one) is stable, and extraction stops there.
    const schedule = checkSchedule({ minSamples: 8, growth: 1.25 }, 4, 40);
    expect(result.checks.map((c) => c.stable)).toEqual([false, true]);
    expect(result.stable).toBe(true);
    expect(result.samplesUsed).toBe(schedule[1]);
    const bytes = await readFile(join(dir, 'inputs.npy'));
    const header = bytes.subarray(10, 10 + bytes.readUInt16LE(8)).toString('latin1');
    expect(header).toContain(`'shape': (${result.samplesUsed}, 3, 8, 8)`);
    expect(bytes.length - 10 - bytes.readUInt16LE(8)).toBe(result.samplesUsed * 3 * 8 * 8 * 4);
  });
});

describe('pooled extraction on SqueezeNet 1.1', requires('shared'), () => {
  let job: {
    model: Uint8Array;
    inputName: string;
    outputName: string;
    input: InputTensor;
    copies: CopyRecord[];
    layers: LayerInfo[];
    target: null;
    output: 'prob';
    batchSize: number;
  };
  const run = async (extra: { workers?: number; threads?: number; auto?: StoppingSettings; copies?: CopyRecord[] }) => {
    const outDir = await mkdtemp(join(tmpdir(), 'ns-pool-'));
    const result = await extractParallel({ ...job, ...extra, outDir });
    return { outDir, result };
  };

  beforeAll(async () => {
    const model = await loadModel(SQUEEZENET);
    const all = await layerShapes(model, recordableLayers(model), [1, 3, 224, 224]);
    const image = await loadImage(shared.image('cat.png'), resolvePreprocessing({ preset: 'imagenet' }, model));
    const spec = resolvePerturbation({ family: 'paper', samples: 20, seed: 1, params: {} });
    job = {
      model: model.bytes,
      inputName: model.inputName,
      outputName: model.outputName,
      input: image.tensor,
      copies: readPerturbationTable(perturbationTable(spec, image.tensor)),
      layers: [all[0]!, all[5]!, all[25]!],
      target: null,
      output: 'prob',
      batchSize: 8,
    };
  });

  it('writes the same bytes with one worker or two, and with 1 or 2 threads per session', async () => {
    const one = await run({ workers: 1, threads: 1 });
    const two = await run({ workers: 2, threads: 1 });
    const threaded = await run({ workers: 1, threads: 2 });
    expect(one.result.samplesUsed).toBe(20);
    expect(two.result.workers).toBe(2);
    for (const f of TABLES) {
      const bytes = await readFile(join(one.outDir, f));
      expect(Buffer.compare(bytes, await readFile(join(two.outDir, f))), f).toBe(0);
      expect(Buffer.compare(bytes, await readFile(join(threaded.outDir, f))), f).toBe(0);
    }
  });

  it('agrees with the in-process JavaScript reduction of the raw activations', async () => {
    const pooled = await run({ workers: 2, threads: 1 });
    const dir = await mkdtemp(join(tmpdir(), 'ns-legacy-'));
    const session = await createSession(
      withExtraOutputs(
        job.model,
        job.layers.map((l) => l.layer),
      ),
    );
    await extract({ ...job, session, outDir: dir });
    await session.release();
    const outputs = [
      await readParquetFile(join(dir, 'outputs.parquet')),
      await readParquetFile(join(pooled.outDir, 'outputs.parquet')),
    ];
    expect(outputs[1]!.getChild('y')!.toArray()).toEqual(outputs[0]!.getChild('y')!.toArray());
    for (const f of ['unit_stats.parquet', 'channel_stats.parquet']) {
      const [a, b] = [await readParquetFile(join(dir, f)), await readParquetFile(join(pooled.outDir, f))];
      expect(b.getChild('shift')!.toArray()).toEqual(a.getChild('shift')!.toArray());
      expect(tableMetadata(b, 'neuronscope.moments')).toEqual(tableMetadata(a, 'neuronscope.moments'));
      for (const column of ['sum_a', 'sum_aa', 'sum_ay']) {
        const x = a.getChild(column)!.toArray() as Float64Array;
        const y = b.getChild(column)!.toArray() as Float64Array;
        const scale = x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        let worst = 0;
        for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
        expect(worst / scale, `${f} ${column}`).toBeLessThan(1e-6);
      }
    }
  });

  it('with auto, stops at a check (or the maximum), writes only the copies it used, and its sets are the stats sets', async () => {
    const spec = resolvePerturbation({ family: 'paper', samples: 64, seed: 2, params: {} });
    const copies = readPerturbationTable(perturbationTable(spec, job.input));
    const auto = { topK: 3, eligibility: 0.1, minSamples: 16, agreement: 0.5 };
    const { outDir, result } = await run({ copies, auto, workers: 2, threads: 1 });
    const schedule = checkSchedule({ minSamples: 16, growth: 1.25 }, 8, 64);
    expect(schedule).toContain(result.samplesUsed);
    expect(result.checks.map((c) => c.samples)).toEqual(schedule.slice(0, result.checks.length));
    // Stable exactly when the last check met the rule (both overlaps at least 0.5, not the first check); it stops
    // at the first such check, else at the maximum.
    const last = result.checks.at(-1)!;
    const met = result.checks.length > 1 && last.settled >= 0.5 && last.agreement >= 0.5;
    expect(result.stable).toBe(met);
    expect(result.checks.slice(0, -1).every((c) => !c.stable)).toBe(true);
    expect(result.samplesUsed).toBe(met ? last.samples : 64);

    const outputs = await readParquetFile(join(outDir, 'outputs.parquet'));
    expect(outputs.numRows).toBe(result.samplesUsed);
    const used = Array.from(outputs.getChild('copy')!.toArray() as Int32Array);
    expect(used).toEqual(stratifiedOrder(64).slice(0, result.samplesUsed));
    const unit = await readParquetFile(join(outDir, 'unit_stats.parquet'));
    const channel = await readParquetFile(join(outDir, 'channel_stats.parquet'));
    expect(tableMetadata<{ count: number }>(unit, 'neuronscope.moments')!.count).toBe(result.samplesUsed);

    // The rule's own top-k computation gives the sets the stats stage selects.
    const metrics = computeMetrics(unit, channel, { topK: 3, eligibility: 0.1 });
    const m = metrics.output;
    const sums = {
      ...createFlatSums(0),
      sumA: Float64Array.from(unit.getChild('sum_a')!.toArray() as Float64Array),
      sumAA: Float64Array.from(unit.getChild('sum_aa')!.toArray() as Float64Array),
      sumAY: Float64Array.from(unit.getChild('sum_ay')!.toArray() as Float64Array),
      count: m.count,
      sumY: m.sumY,
      sumYY: m.sumYY,
    };
    let offset = 0;
    const unitOffsets = job.layers.map((l) => {
      const at = offset;
      offset += l.channels * l.height * l.width;
      return at;
    });
    const sets = topKSets(
      sums,
      null,
      Float32Array.from(unit.getChild('shift')!.toArray() as Float32Array),
      {
        channels: job.layers.map((l) => l.channels),
        unitsPerChannel: job.layers.map((l) => l.height * l.width),
        unitOffsets,
      },
      { topK: 3, eligibility: 0.1 },
    );
    metrics.layers.forEach((l, k) => {
      expect(sets[k]!.correlation).toEqual(l.byCorrelation.map((n) => n.channel));
      expect(sets[k]!.precision).toEqual(l.byPrecision.map((n) => n.channel));
    });
  });
});
