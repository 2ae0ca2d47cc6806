import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classProbabilities, tensorDims } from '@neuronscope/core';
import { createSession, withExtraOutputs } from '@neuronscope/model';
import { baselineFor, defaultBlurSigma } from '@neuronscope/perturb';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CURVE_STEPS,
  createExplainer,
  curveArea,
  defaultModel,
  type Explainer,
  type Explanation,
  type HeatMaps,
  RANDOM_MAPS,
  randomSmoothMap,
  rankCells,
} from '../src/index.js';

describe('the pieces of the faithfulness curves', () => {
  it('ranks cells by value, highest first, NaN last, ties by index', () => {
    expect(Array.from(rankCells(Float32Array.of(0.2, 0.9, Number.NaN, 0.2, 0.5)))).toEqual([2, 0, 4, 3, 1]);
  });

  it('measures the area under a curve by trapezoids', () => {
    // y = 1 - f on [0, 1]: area 1/2; a step from 1 to 0 at 0.5 sampled at 0, 0.5, 1: 1/2 * 1 + 1/2 * 1/2 = 0.75.
    expect(curveArea([0, 0.25, 0.5, 0.75, 1], [1, 0.75, 0.5, 0.25, 0])).toBeCloseTo(0.5, 12);
    expect(curveArea([0, 0.5, 1], [1, 1, 0])).toBeCloseTo(0.75, 12);
  });

  it('draws random maps on a coarse lattice, interpolated: values stay between the lattice extremes', () => {
    const values = [0.1, 0.9, 0.4, 0.6];
    let i = 0;
    const map = randomSmoothMap(2, 8, 8, () => values[i++]!);
    expect(i).toBe(4);
    // Cell centres inside the lattice's outer centres are interpolated; the corners keep the lattice values.
    expect(map[0]).toBeCloseTo(0.1, 6);
    expect(map[7]).toBeCloseTo(0.9, 6);
    expect(map[56]).toBeCloseTo(0.4, 6);
    expect(map[63]).toBeCloseTo(0.6, 6);
    for (const v of map) expect(v >= 0.1 - 1e-6 && v <= 0.9 + 1e-6).toBe(true);
    // Smooth: neighbours differ by at most the largest lattice step over the cells between two lattice centres.
    for (let x = 1; x < 8; x++) expect(Math.abs(map[x]! - map[x - 1]!)).toBeLessThanOrEqual(0.8 / 4 + 1e-6);
  });
});

describe('deletion and insertion curves of the default model, through the pool', () => {
  let explainer: Explainer;
  let run: Explanation;
  let maps: HeatMaps;
  beforeAll(async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'ns-faith-cache-'));
    explainer = await createExplainer({ cacheDir });
    run = await explainer.explain((await defaultModel()).image, { samples: 8, seed: 1, keepActivations: false });
    maps = await explainer.heatMaps(run, { masks: 64, seed: 2 });
  });
  afterAll(() => explainer.close());

  it('has every curve, from the clean image to the baseline and back', async () => {
    const f = maps.faithfulness!;
    expect(f.points).toHaveLength((1 + RANDOM_MAPS) * 2 * (CURVE_STEPS + 1));
    expect(f.meta.areas).toHaveLength((1 + RANDOM_MAPS) * 2);
    // Independently: the clean image, the all-deleted image (zeros: the maps' baseline) and the blurred one.
    const input = run.input.tensor;
    const sigma = defaultBlurSigma(input.height, input.width);
    const images = [
      input.data,
      new Float32Array(input.data.length),
      Float32Array.from(baselineFor(input, 'blur', sigma)),
    ];
    const model = explainer.context.model;
    const session = await createSession(withExtraOutputs(model.bytes, [model.logitsName]));
    const batch = new Float32Array(3 * input.data.length);
    for (const [i, data] of images.entries()) batch.set(data, i * input.data.length);
    const out = await session.run({ [model.inputName]: new ort.Tensor('float32', batch, tensorDims(input, 3)) });
    await session.release();
    const logits = out[model.logitsName]!.data as Float32Array;
    const classes = logits.length / 3;
    const target = run.summary.target.index;
    const [clean, deleted, blurred] = [0, 1, 2].map(
      (i) => classProbabilities(logits.subarray(i * classes, (i + 1) * classes), model.outputKind)[target]!,
    );
    for (const p of f.points) {
      const full = p.step === CURVE_STEPS;
      if (p.curve === 'deletion' && p.step === 0) expect(p.probability).toBeCloseTo(clean!, 5);
      if (p.curve === 'deletion' && full) expect(p.probability).toBeCloseTo(deleted!, 5);
      if (p.curve === 'insertion' && p.step === 0) expect(p.probability).toBeCloseTo(blurred!, 5);
      if (p.curve === 'insertion' && full) expect(p.probability).toBeCloseTo(clean!, 5);
    }
    // The areas in the metadata are those of the points.
    for (const a of f.meta.areas) {
      const curve = f.points.filter((p) => p.map === a.map && p.draw === a.draw && p.curve === a.curve);
      expect(a.auc).toBeCloseTo(
        curveArea(
          curve.map((p) => p.fraction),
          curve.map((p) => p.probability),
        ),
        12,
      );
    }
  });

  it('ranks the deletion by the RISE map: the first deleted cells are its brightest', () => {
    const rise = maps.rows.find((r) => r.statistic === 'rise')!.map;
    const ranks = rankCells(rise);
    let brightest = 0;
    for (let q = 1; q < rise.length; q++) if (rise[q]! > rise[brightest]!) brightest = q;
    expect(ranks[brightest]).toBe(0);
  });

  it('comes back from the cache with the maps', async () => {
    const again = await explainer.heatMaps(run, { masks: 64, seed: 2 });
    expect(again.fromCache).toBe(true);
    expect(Buffer.from(again.faithfulness!.bytes).equals(Buffer.from(maps.faithfulness!.bytes))).toBe(true);
  });
});
