/**
 * The dataset-level answer on a hand-computed example: two layers (A: channels 0 and 1, B: channel 0; rows r0, r1,
 * r2 of every image), four analysed images of two classes, one image with an error and one that failed.
 *
 *   image  label  prediction  clean (r0, r1, r2)  selected by correlation  by precision
 *   a      0      0           0.9  0.1  0.5       r0                       r1 r2
 *   b      0      0           0.8  0.3  0.5       r0 r2                    r1
 *   c      1      1           0.2  0.4  0.5       r1                       r0
 *   d      1      0           0.3  0.2  0.5       r0                       -
 *
 * The target is the label. AUROC of a row for a class: the fraction of (positive, negative) pairs of images in which
 * the positive's clean activation is higher, ties half:
 *   r0: class 0 {0.9, 0.8} vs {0.2, 0.3}: 4/4 = 1;  class 1: 0/4 = 0
 *   r1: class 0 {0.1, 0.3} vs {0.4, 0.2}: only 0.3 > 0.2, 1/4 = 0.25;  class 1: 3/4 = 0.75
 *   r2: all equal: 0.5 for both
 */
import { mulberry32, type Table } from '@neuronscope/core';
import { describe, expect, it } from 'vitest';
import { neurons, row } from '../test/aggregate.js';
import { Aggregator, type ComparisonRow } from './index.js';

function example(resamples = 200, minSupport = 2) {
  const aggregator = new Aggregator(['cat', 'dog'], resamples, minSupport);
  aggregator.add(row('a', 0, 0), neurons('a', [0.9, 0.1, 0.5], [0], [1, 2]));
  aggregator.add(row('b', 0, 0), neurons('b', [0.8, 0.3, 0.5], [0, 2], [1]));
  aggregator.add(row('c', 1, 1), neurons('c', [0.2, 0.4, 0.5], [1], [0]));
  aggregator.add(row('d', 1, 0), neurons('d', [0.3, 0.2, 0.5], [0], []));
  aggregator.add(row('e', 1, 1, 'error'), null);
  aggregator.add(row('f', 0, 0, 'failed'), null);
  return aggregator.result();
}

/** A column's values, nulls as null. */
const column = (t: Table, name: string) => [...t.getChild(name)!] as unknown[];

describe('Aggregator on a hand-computed example', () => {
  const result = example();

  it('counts the images by status, and the labelled ones predicted right', () => {
    expect(result.counts).toEqual({ images: 6, ok: 4, error: 1, failed: 1, labelled: 4, correct: 3 });
  });

  it('gives each neuron the AUROC of its clean activation, class against the rest', () => {
    const t = result.selectivity;
    expect(t.numRows).toBe(3 * 2);
    expect(column(t, 'layer_index')).toEqual([0, 0, 0, 0, 3, 3]);
    expect(column(t, 'channel')).toEqual([0, 0, 1, 1, 0, 0]);
    expect(column(t, 'class')).toEqual([0, 1, 0, 1, 0, 1]);
    expect(column(t, 'class_name')).toEqual(['cat', 'dog', 'cat', 'dog', 'cat', 'dog']);
    expect(column(t, 'positives')).toEqual([2, 2, 2, 2, 2, 2]);
    expect(column(t, 'negatives')).toEqual([2, 2, 2, 2, 2, 2]);
    expect(column(t, 'auroc')).toEqual([1, 0, 0.25, 0.75, 0.5, 0.5]);
    // Each neuron once, for its best class: r0 for cat (1), r1 for dog (0.75), r2 (0.5, either class: the first).
    expect(result.topSelective).toEqual([
      { layer: 'A', layerIndex: 0, channel: 0, class: 0, name: 'cat', auroc: 1, positives: 2 },
      { layer: 'A', layerIndex: 0, channel: 1, class: 1, name: 'dog', auroc: 0.75, positives: 2 },
      { layer: 'B', layerIndex: 3, channel: 0, class: 0, name: 'cat', auroc: 0.5, positives: 2 },
    ]);
  });

  it('leaves classes below the minimum support out of the most selective neurons, and marks them', () => {
    // With a support of 3 images, neither class (2 images each) qualifies.
    const strict = example(200, 3);
    expect(strict.topSelective).toEqual([]);
    expect(strict.classes.map((c) => c.supported)).toEqual([false, false]);
    expect(strict.minSupport).toBe(3);
    expect(result.classes.map((c) => c.supported)).toEqual([true, true]);
  });

  it('counts how often each metric selects each neuron, per target class', () => {
    const t = result.selection;
    // Class 0 (images a, b), then class 1 (c, d); rows r0, r1, r2 in each.
    expect(column(t, 'class')).toEqual([0, 0, 0, 1, 1, 1]);
    expect(column(t, 'images')).toEqual([2, 2, 2, 2, 2, 2]);
    expect(column(t, 'selected_correlation')).toEqual([2, 0, 1, 1, 1, 0]);
    expect(column(t, 'selected_precision')).toEqual([0, 2, 1, 1, 0, 0]);
    expect(column(t, 'rate_correlation')).toEqual([1, 0, 0.5, 0.5, 0.5, 0]);
    expect(column(t, 'rate_precision')).toEqual([0, 1, 0.5, 0.5, 0, 0]);
    // Ranked by the rate among the class's images minus the rate among the others': correlation selects r0 in both
    // of cat's images and in one of dog's (1 - 0.5), r2 in one of cat's and none of dog's (0.5 - 0): a tie, the
    // higher rate first. For dog, r0 (0.5 against cat's 1) is not specific to it and is left out.
    expect(result.classes).toEqual([
      {
        class: 0,
        name: 'cat',
        images: 2,
        supported: true,
        topCorrelation: [
          { layer: 'A', layerIndex: 0, channel: 0, rate: 1, others: 0.5 },
          { layer: 'B', layerIndex: 3, channel: 0, rate: 0.5, others: 0 },
        ],
        topPrecision: [
          { layer: 'A', layerIndex: 0, channel: 1, rate: 1, others: 0 },
          { layer: 'B', layerIndex: 3, channel: 0, rate: 0.5, others: 0 },
        ],
      },
      {
        class: 1,
        name: 'dog',
        images: 2,
        supported: true,
        topCorrelation: [{ layer: 'A', layerIndex: 0, channel: 1, rate: 0.5, others: 0 }],
        topPrecision: [{ layer: 'A', layerIndex: 0, channel: 0, rate: 0.5, others: 0 }],
      },
    ]);
  });

  it('compares the mean AUROC of the selected neurons per image, per layer and over all layers', () => {
    const means = (r: ComparisonRow) => ({
      layer: r.layer,
      images: r.images,
      correlation: r.correlation.mean,
      precision: r.precision.mean,
      difference: r.difference.mean,
      baseline: r.baseline,
      precisionHigher: r.precisionHigher,
    });
    const [a, b, all] = result.rows.map(means);
    // Layer A. Per image (target = label), AUROC for the target of the selected rows of A, and of all of A's rows:
    //   a: correlation r0 1, precision r1 0.25, all (1 + 0.25) / 2 = 0.625, difference -0.75
    //   b: correlation r0 1, precision r1 0.25, all 0.625, difference -0.75
    //   c: correlation r1 0.75, precision r0 0, all (0 + 0.75) / 2 = 0.375, difference -0.75
    //   d: correlation r0 0, no precision, all 0.375, no difference
    // means: correlation (1 + 1 + 0.75 + 0) / 4 = 0.6875, precision (0.25 + 0.25 + 0) / 3 = 1/6,
    //        baseline (0.625 + 0.625 + 0.375 + 0.375) / 4 = 0.5, difference -0.75 over 3 images, none higher.
    expect(a).toEqual({
      layer: 'A',
      images: 3,
      correlation: 0.6875,
      precision: expect.closeTo(1 / 6, 12),
      difference: -0.75,
      baseline: 0.5,
      precisionHigher: 0,
    });
    // Layer B (r2, AUROC 0.5 for both classes): correlation selects it in b only, precision in a only; no image
    // has both, so there is no difference.
    expect(b).toEqual({
      layer: 'B',
      images: 0,
      correlation: 0.5,
      precision: 0.5,
      difference: Number.NaN,
      baseline: 0.5,
      precisionHigher: Number.NaN,
    });
    // All layers:
    //   a: correlation {r0} 1, precision {r1, r2} (0.25 + 0.5) / 2 = 0.375, difference -0.625, all (1+.25+.5)/3
    //   b: correlation {r0, r2} (1 + 0.5) / 2 = 0.75, precision {r1} 0.25, difference -0.5
    //   c: correlation {r1} 0.75, precision {r0} 0, difference -0.75, all (0 + 0.75 + 0.5) / 3
    //   d: correlation {r0} 0, no precision
    // means: correlation (1 + 0.75 + 0.75 + 0) / 4 = 0.625, precision (0.375 + 0.25 + 0) / 3 = 0.208333...,
    //        difference (-0.625 - 0.5 - 0.75) / 3 = -0.625, baseline (1.75/3 * 2 + 1.25/3 * 2) / 4 = 0.5.
    expect(all).toEqual({
      layer: '(all)',
      images: 3,
      correlation: 0.625,
      precision: expect.closeTo(0.625 / 3, 12),
      difference: expect.closeTo(-0.625, 12),
      baseline: expect.closeTo(0.5, 12),
      precisionHigher: 0,
    });
    expect(column(result.comparison, 'layer')).toEqual(['A', 'B', '(all)']);
    expect(column(result.comparison, 'layer_index')).toEqual([0, 3, -1]);
    // No NaN in the table: JSON and Parquet readers get nulls.
    expect(column(result.comparison, 'difference_mean')[1]).toBeNull();
  });

  it('refuses an image whose neuron layout differs from the first one', () => {
    const aggregator = new Aggregator(null, 10);
    aggregator.add(row('a', 0, 0), neurons('a', [0.9, 0.1, 0.5], [0], [1]));
    const short = neurons('b', [0.8, 0.3, 0.5], [0], [1]).slice(0, 2);
    expect(() => aggregator.add(row('b', 0, 0), short)).toThrow(/image b has 2 neuron rows, earlier images 3/);
  });
});

/** The 95% percentile-bootstrap interval of the mean, written out plainly with the same seeded generator. */
function plainBootstrap(values: number[], resamples: number, seed: number): [number, number] {
  const random = mulberry32(seed);
  const means: number[] = [];
  for (let b = 0; b < resamples; b++) {
    let sum = 0;
    for (let i = 0; i < values.length; i++) sum += values[Math.floor(random() * values.length)]!;
    means.push(sum / values.length);
  }
  means.sort((x, y) => x - y);
  return [means[Math.round(0.025 * (resamples - 1))]!, means[Math.round(0.975 * (resamples - 1))]!];
}

describe('Aggregator bootstrap intervals', () => {
  it('are a plain resampling of the per-image means with seeds 1 (correlation), 2 (precision), 3 (difference)', () => {
    const all = example(500).rows[2]!;
    expect([all.correlation.low, all.correlation.high]).toEqual(plainBootstrap([1, 0.75, 0.75, 0], 500, 1));
    expect([all.precision.low, all.precision.high]).toEqual(plainBootstrap([0.375, 0.25, 0], 500, 2));
    const [low, high] = plainBootstrap([-0.625, -0.5, -0.75], 500, 3);
    expect(all.difference.low).toBeCloseTo(low, 12);
    expect(all.difference.high).toBeCloseTo(high, 12);
  });

  it('contain the mean and narrow with more images', () => {
    const width = (images: number) => {
      const aggregator = new Aggregator(['cat', 'dog'], 400);
      for (let i = 0; i < images; i++) {
        const label = i % 2;
        const jitter = ((i * 7) % 10) / 100;
        const clean = label === 0 ? [0.8 + jitter, 0.2, 0.5 - jitter] : [0.2 - jitter, 0.7, 0.5 + jitter];
        // Correlation picks r0 or r1 by turns, precision r2 or r0: the per-image means vary.
        aggregator.add(row(`i${i}`, label, label), neurons(`i${i}`, clean, [i % 3 === 0 ? 1 : 0], [i % 4 ? 2 : 0]));
      }
      const all = aggregator.result().rows[2]!;
      for (const v of [all.correlation, all.precision, all.difference]) {
        expect(v.low).toBeLessThanOrEqual(v.mean);
        expect(v.high).toBeGreaterThanOrEqual(v.mean);
      }
      return all.correlation.high - all.correlation.low;
    };
    const [few, many] = [width(12), width(120)];
    expect(few).toBeGreaterThan(0);
    expect(many).toBeLessThan(few / 2);
  });
});
