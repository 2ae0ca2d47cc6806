import { type InputTensor, type LayerInfo, tableToParquet, UserError } from '@neuronscope/core';
import { channelStatsTable, metricColumns, selectNeurons } from '@neuronscope/metrics';
import { layerShapes, loadImage, loadModel, recordableLayers, resolvePreprocessing } from '@neuronscope/model';
import { type CopyRecord, perturbationTable, readPerturbationTable, resolvePerturbation } from '@neuronscope/perturb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requires, shared } from '../../../test/support/env.js';
import { tinyConvModel } from '../../model/test/fixtures.js';
import { referenceExtract } from '../test/reference-extract.js';
import type { Extraction } from './image-extraction.js';
import { ExtractionPool, type PoolOptions } from './pool.js';
import { checkSchedule, stratifiedOrder, topKSets } from './stopping.js';
import { activationsTable, outputsTable, unitStatsTable } from './tables.js';

/** The largest |a - b| relative to the largest |a|. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(a[i]!));
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  }
  return scale === 0 ? worst : worst / scale;
}

/** Every table of an extraction, encoded: what must be the same bytes whatever ran it. */
function encoded(e: Extraction, layers: readonly LayerInfo[]): Buffer[] {
  const metrics = metricColumns(e.layers, e.output);
  return [
    outputsTable(e.rows, e.cleanLogits, e.target),
    activationsTable(e.rows, layers),
    unitStatsTable(e.layers, e.output),
    channelStatsTable(metrics),
  ].map((t) => Buffer.from(tableToParquet(t)));
}

describe('the extraction pool on a tiny model', () => {
  const input: InputTensor = {
    data: Float32Array.from({ length: 3 * 8 * 8 }, (_, i) => Math.sin(i * 0.7) + 0.2),
    layout: 'NCHW',
    channels: 3,
    height: 8,
    width: 8,
  };
  const other: InputTensor = { ...input, data: input.data.map((v, i) => v * (1 + (i % 5) / 10)) };
  const layers: LayerInfo[] = [
    { layer: 'r1', layerIndex: 0, convNode: 'conv1', op: 'Relu', channels: 4, height: 8, width: 8 },
    { layer: 'c2', layerIndex: 1, convNode: 'conv2', op: 'Conv', channels: 2, height: 8, width: 8 },
  ];
  const copiesOf = (samples: number, tensor = input) =>
    readPerturbationTable(
      perturbationTable(resolvePerturbation({ family: 'gaussian', samples, seed: 3, params: {} }), tensor),
    );
  const options: PoolOptions = {
    model: tinyConvModel(),
    inputName: 'image',
    outputName: 'scores',
    layers,
    output: 'logit',
    batchSize: 4,
    input,
    workers: 2,
    threads: 1,
  };
  let pool: ExtractionPool;
  beforeAll(() => {
    pool = new ExtractionPool(options);
  });
  afterAll(() => pool.close());

  it('gives the moments of the plain serial reduction, within float32 rounding, and the same copies', async () => {
    const copies = copiesOf(13);
    const e = await pool.extract({ input, copies, target: null, keepInputs: true });
    const ref = await referenceExtract({ ...options, input, copies, target: null });
    expect(e.samplesUsed).toBe(13);
    expect(Buffer.compare(Buffer.from(e.inputs!.buffer), Buffer.from(ref.inputs.buffer))).toBe(0);
    expect(Array.from(e.rows.y)).toEqual(Array.from(ref.rows.y));
    expect(Array.from(e.rows.top1)).toEqual(Array.from(ref.rows.top1));
    expect(relativeError(ref.rows.channelMeans, e.rows.channelMeans)).toBeLessThan(1e-6);
    e.layers.forEach((l, k) => {
      const r = ref.layers[k]!;
      expect(Array.from(l.unit.shift)).toEqual(Array.from(r.unit.shift));
      for (const key of ['sumA', 'sumAA', 'sumAY'] as const) {
        expect(relativeError(r.unit[key], l.unit[key]), `unit ${key}`).toBeLessThan(1e-6);
        expect(relativeError(r.channel[key], l.channel[key]), `channel ${key}`).toBeLessThan(1e-6);
      }
    });
    e.release();
  });

  it('turns a user error in a worker into a UserError, and stays usable', async () => {
    const broken = copiesOf(13).map((c, i) => (i === 5 ? { ...c, params: { sigma: -1 } } : c));
    await expect(pool.extract({ input, copies: broken, target: null })).rejects.toBeInstanceOf(UserError);
    const after = await pool.extract({ input, copies: copiesOf(5), target: null });
    expect(after.samplesUsed).toBe(5);
    after.release();
  });

  it('gives the same bits for two images run at once as for each alone', async () => {
    const [a, b] = [copiesOf(21), copiesOf(21, other)];
    const alone = [await pool.extract({ input, copies: a, target: null })];
    const aloneBytes = encoded(alone[0]!, layers);
    alone[0]!.release();
    const second = await pool.extract({ input: other, copies: b, target: null });
    const secondBytes = encoded(second, layers);
    second.release();
    const together = await Promise.all([
      pool.extract({ input, copies: a, target: null }),
      pool.extract({ input: other, copies: b, target: null }),
      pool.extract({ input, copies: a, target: 1 }),
    ]);
    const [x, y] = [encoded(together[0]!, layers), encoded(together[1]!, layers)];
    for (const e of together) e.release();
    x.forEach((bytes, i) => {
      expect(Buffer.compare(bytes, aloneBytes[i]!), `table ${i}`).toBe(0);
    });
    y.forEach((bytes, i) => {
      expect(Buffer.compare(bytes, secondBytes[i]!), `table ${i}`).toBe(0);
    });
  });

  it('stops when its signal is aborted, and stays usable', async () => {
    const controller = new AbortController();
    const run = pool.extract({
      input,
      copies: copiesOf(200),
      target: null,
      signal: controller.signal,
      onProgress: (done) => {
        if (done >= 8) controller.abort(new Error('stopped by the test'));
      },
    });
    await expect(run).rejects.toThrow('stopped by the test');
    const after = await pool.extract({ input, copies: copiesOf(6), target: null });
    expect(after.samplesUsed).toBe(6);
    after.release();
  });

  it('with auto, stops at the first stable check and says so; without a second check it cannot be stable', async () => {
    const copies = copiesOf(40);
    const schedule = checkSchedule({ minSamples: 8, growth: 1.25 }, 4, 40);
    // Agreement 0: the second check is always stable (the first never is: it has nothing to settle against).
    const loose = await pool.extract({
      input,
      copies,
      target: null,
      keepInputs: true,
      auto: { topK: 1, eligibility: -1, minSamples: 8, agreement: 0, confirmations: 1 },
    });
    expect(loose.stable).toBe(true);
    expect(loose.checks.map((c) => c.stable)).toEqual([false, true]);
    expect(loose.samplesUsed).toBe(schedule[1]);
    expect(loose.inputs!.length).toBe(schedule[1]! * 3 * 8 * 8);
    expect(Array.from(loose.rows.copies)).toEqual(stratifiedOrder(40).slice(0, schedule[1]));
    loose.release();
    // minSamples above N: one check, at the maximum, with no previous sets: not stable, every copy used.
    const single = await pool.extract({
      input,
      copies,
      target: null,
      auto: { topK: 1, eligibility: -1, minSamples: 64, agreement: 0 },
    });
    expect(single.checks).toHaveLength(1);
    expect(single.stable).toBe(false);
    expect(single.samplesUsed).toBe(40);
    single.release();
  });

  it('without auto, has no stable flag and runs every copy', async () => {
    const e = await pool.extract({ input, copies: copiesOf(13), target: null });
    expect(e.stable).toBeNull();
    expect(e.checks).toEqual([]);
    expect(e.samplesUsed).toBe(13);
    e.release();
  });

  it('frees the sessions of every worker before ending the threads, once, however often it is called', async () => {
    const three = new ExtractionPool({ ...options, workers: 3 });
    await three.open();
    await Promise.all([three.close(), three.close()]);
    expect(three.releasedWorkers).toBe(3);
    await expect(three.extract({ input, copies: copiesOf(4), target: null })).rejects.toThrow('closed');
    const never = new ExtractionPool({ ...options, workers: 2 });
    await never.close();
    expect(never.releasedWorkers).toBe(0);
  });

  it('accumulates heat maps in copy order whatever the workers: the same maps as one worker', async () => {
    const masks = readPerturbationTable(
      perturbationTable(resolvePerturbation({ family: 'mask', samples: 24, seed: 5, params: {} }), input),
    );
    const grid = { height: 8, width: 8, block: 2, mapHeight: 4, mapWidth: 4 };
    const neurons = [
      { layer: 0, channel: 1 },
      { layer: 1, channel: 0 },
    ];
    const two = await pool.heatMaps({ input, copies: masks, neurons, target: 0, grid });
    const single = new ExtractionPool({ ...options, workers: 1 });
    const one = await single.heatMaps({ input, copies: masks, neurons, target: 0, grid });
    await single.close();
    expect(single.releasedWorkers).toBe(1);
    expect(two.count).toBe(24);
    for (const r of [0, 1, 2]) {
      expect(Array.from(two.pearson(r))).toEqual(Array.from(one.pearson(r)));
      expect(two.valueStats(r)).toEqual(one.valueStats(r));
    }
  });
});

describe('the extraction pool on SqueezeNet 1.1', requires('shared'), () => {
  let options: PoolOptions;
  let input: InputTensor;
  let copies: CopyRecord[];
  const run = async (
    extra: Partial<PoolOptions>,
    job: {
      copies?: CopyRecord[];
      auto?: { topK: number; eligibility: number; minSamples: number; agreement: number };
    } = {},
  ) => {
    const pool = new ExtractionPool({ ...options, ...extra });
    try {
      return await pool.extract({
        input,
        copies: job.copies ?? copies,
        target: null,
        ...(job.auto ? { auto: job.auto } : {}),
      });
    } finally {
      await pool.close();
    }
  };

  beforeAll(async () => {
    const model = await loadModel(shared.squeezenet);
    const all = await layerShapes(model, recordableLayers(model), [1, 3, 224, 224]);
    const image = await loadImage(shared.image('cat.png'), resolvePreprocessing({ preset: 'imagenet' }, model));
    input = image.tensor;
    copies = readPerturbationTable(
      perturbationTable(resolvePerturbation({ family: 'paper', samples: 20, seed: 1, params: {} }), input),
    );
    options = {
      model: model.bytes,
      inputName: model.inputName,
      outputName: model.outputName,
      layers: [all[0]!, all[5]!, all[25]!],
      output: 'prob',
      batchSize: 8,
      input,
    };
  });

  it('gives the same table bytes with one worker or two, and with 1 or 2 threads per session', async () => {
    const one = await run({ workers: 1, threads: 1 });
    const two = await run({ workers: 2, threads: 1 });
    const threaded = await run({ workers: 1, threads: 2 });
    expect(one.samplesUsed).toBe(20);
    const [a, b, c] = [one, two, threaded].map((e) => encoded(e, options.layers));
    a!.forEach((bytes, i) => {
      expect(Buffer.compare(bytes, b![i]!), `table ${i}`).toBe(0);
      expect(Buffer.compare(bytes, c![i]!), `table ${i}`).toBe(0);
    });
  });

  it('agrees with the plain serial JavaScript reduction of the raw activations', async () => {
    const pooled = await run({ workers: 2, threads: 1 });
    const ref = await referenceExtract({ ...options, input, copies, target: null });
    expect(Array.from(pooled.rows.y)).toEqual(Array.from(ref.rows.y));
    expect(pooled.output).toEqual(ref.output);
    pooled.layers.forEach((l, k) => {
      const r = ref.layers[k]!;
      expect(Array.from(l.unit.shift)).toEqual(Array.from(r.unit.shift));
      for (const key of ['sumA', 'sumAA', 'sumAY'] as const) {
        expect(relativeError(r.unit[key], l.unit[key]), `unit ${key}`).toBeLessThan(1e-6);
        expect(relativeError(r.channel[key], l.channel[key]), `channel ${key}`).toBeLessThan(1e-6);
      }
    });
  });

  it('with auto, stops at a check of its schedule, and its sets are the stats sets', async () => {
    const many = readPerturbationTable(
      perturbationTable(resolvePerturbation({ family: 'paper', samples: 64, seed: 2, params: {} }), input),
    );
    const auto = { topK: 3, eligibility: 0.1, minSamples: 16, agreement: 0.5, confirmations: 1 };
    const e = await run({ workers: 2, threads: 1 }, { copies: many, auto });
    const schedule = checkSchedule({ minSamples: 16, growth: 1.25 }, 8, 64);
    expect(schedule).toContain(e.samplesUsed);
    expect(e.checks.map((c) => c.samples)).toEqual(schedule.slice(0, e.checks.length));
    // Stable exactly when the last check met the rule (both overlaps at least 0.5, not the first check); it stops
    // at the first such check, else at the maximum.
    const last = e.checks.at(-1)!;
    const met = e.checks.length > 1 && last.settled >= 0.5 && last.agreement >= 0.5;
    expect(e.stable).toBe(met);
    expect(e.checks.slice(0, -1).every((c) => !c.stable)).toBe(true);
    expect(e.samplesUsed).toBe(met ? last.samples : 64);
    expect(Array.from(e.rows.copies)).toEqual(stratifiedOrder(64).slice(0, e.samplesUsed));
    expect(e.output.count).toBe(e.samplesUsed);
    // The rule's own top-k computation gives the sets the stats stage selects.
    const selection = selectNeurons(metricColumns(e.layers, e.output), { topK: 3, eligibility: 0.1 });
    let offset = 0;
    const unitOffsets = options.layers.map((l) => {
      const at = offset;
      offset += l.channels * l.height * l.width;
      return at;
    });
    const flat = (key: 'sumA' | 'sumAA' | 'sumAY') =>
      Float64Array.from(e.layers.flatMap((l) => Array.from(l.unit[key])));
    const sets = topKSets(
      {
        sumA: flat('sumA'),
        sumAA: flat('sumAA'),
        sumAY: flat('sumAY'),
        count: e.output.count,
        sumY: e.output.sumY,
        sumYY: e.output.sumYY,
      },
      null,
      Float32Array.from(e.layers.flatMap((l) => Array.from(l.unit.shift))),
      {
        channels: options.layers.map((l) => l.channels),
        unitsPerChannel: options.layers.map((l) => l.height * l.width),
        unitOffsets,
      },
      { topK: 3, eligibility: 0.1 },
    );
    selection.layers.forEach((l, k) => {
      expect(sets[k]!.correlation).toEqual(l.byCorrelation.map((n) => n.channel));
      expect(sets[k]!.precision).toEqual(l.byPrecision.map((n) => n.channel));
    });
  });
});
