import { describe, expect, it } from 'vitest';
import {
  awaitTurn,
  createSharedSums,
  finishTurn,
  mergeBatch,
  mergedBatches,
  setMergeLimit,
  stopMerging,
} from './merge.js';
import { slotLayout, slotViews } from './slots.js';

describe('shared sums and the merge turnstile', () => {
  const layers = [
    { channels: 2, height: 1, width: 2 },
    { channels: 1, height: 1, width: 3 },
  ];
  const layout = slotLayout(layers, 2, 3, 4);

  it('adds a batch partial sums layer by layer into float64 (sum d, sum d*e, sum d^2)', () => {
    const sums = createSharedSums(layout.totalUnits, true, 10);
    const buffer = new ArrayBuffer(layout.length * 4);
    const views = slotViews(buffer, layout, 2);
    views.sums[0]!.set([1, 2, 3, 4, 10, 20, 30, 40]);
    views.squares[0]!.set([5, 6, 7, 8]);
    views.sums[1]!.set([0.5, 0.25, 0.125, -1, -2, -3]);
    views.squares[1]!.set([9, 9.5, 10]);
    mergeBatch(sums, layout, views);
    mergeBatch(sums, layout, views);
    expect([...sums.sumA]).toEqual([2, 4, 6, 8, 1, 0.5, 0.25]);
    expect([...sums.sumAY]).toEqual([20, 40, 60, 80, -2, -4, -6]);
    expect([...sums.sumAA]).toEqual([10, 12, 14, 16, 18, 19, 20]);
    expect(sums.sumA.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect([...sums.half!.sumA]).toEqual(new Array(7).fill(0));
  });

  it('gives batches their turn in order, up to the limit, and lets waiters go when stopped', () => {
    const sums = createSharedSums(1, false, 2);
    expect(awaitTurn(sums, 0).turn).toBe(true);
    finishTurn(sums, 0);
    expect(mergedBatches(sums)).toBe(1);
    expect(awaitTurn(sums, 1).turn).toBe(true);
    finishTurn(sums, 1);
    // Batch 2 is beyond the limit: a worker would wait here until the coordinator raises it.
    setMergeLimit(sums, 3);
    expect(awaitTurn(sums, 2).turn).toBe(true);
    finishTurn(sums, 2);
    stopMerging(sums);
    // Stopped: batch 3 (and a batch whose predecessor never merged) give up instead of waiting forever.
    expect(awaitTurn(sums, 3).turn).toBe(false);
    expect(awaitTurn(sums, 7).turn).toBe(false);
    expect(mergedBatches(sums)).toBe(3);
  });
});
