import { describe, expect, it } from 'vitest';
import { checkStability, type LayerSets } from './stopping.js';

/**
 * Two layers; layer 1 has no eligible channel (empty precision sets, which count in no overlap).
 *
 * Settled (sets now against the previous check's, |now ∩ before| / |before|):
 *   layer 0 correlation {1,2,3} vs {1,2,7}: 2/3; precision {4,5} vs {4,5}: 1; layer 1 correlation {0,1} vs {0,1}: 1
 *   mean (2/3 + 1 + 1) / 3 = 8/9 = 0.888...
 * Half-sample agreement (each half against the full sets, |half ∩ full| / |full|):
 *   layer 0 correlation: A {1,2,3} 3/3, B {3,8,9} 1/3; precision: A {4,6} 1/2, B {4,5} 2/2
 *   layer 1 correlation: A {0,1} 2/2, B {1,5} 1/2
 *   mean (1 + 1/3 + 1/2 + 1 + 1 + 1/2) / 6 = (13/3) / 6 = 13/18 = 0.7222...
 * Unchanged layers: layer 1 only.
 */
const full: LayerSets[] = [
  { correlation: [1, 2, 3], precision: [4, 5] },
  { correlation: [0, 1], precision: [] },
];
const previous: LayerSets[] = [
  { correlation: [1, 2, 7], precision: [4, 5] },
  { correlation: [1, 0], precision: [] },
];
const halfA: LayerSets[] = [
  { correlation: [1, 2, 3], precision: [4, 6] },
  { correlation: [0, 1], precision: [] },
];
const halfB: LayerSets[] = [
  { correlation: [3, 8, 9], precision: [4, 5] },
  { correlation: [1, 5], precision: [] },
];

describe('checkStability (the --samples auto rule)', () => {
  it('computes the settled and half-sample overlaps of a hand-worked example', () => {
    const check = checkStability(full, [halfA, halfB], previous, 64, { agreement: 0.7 });
    expect(check.samples).toBe(64);
    expect(check.layers).toBe(2);
    expect(check.unchangedLayers).toBe(1);
    expect(check.settled).toBeCloseTo(8 / 9, 12);
    expect(check.agreement).toBeCloseTo(13 / 18, 12);
  });

  it('is stable exactly when both overlaps reach the agreement', () => {
    const stable = (agreement: number) => checkStability(full, [halfA, halfB], previous, 64, { agreement }).stable;
    expect(stable(0.7)).toBe(true); // 8/9 and 13/18 both >= 0.7
    expect(stable(0.75)).toBe(false); // the halves agree only 13/18 = 0.722
    expect(stable(0.95)).toBe(false); // neither holds
  });

  it('is never stable at the first check, which has nothing to have settled against', () => {
    const first = checkStability(full, [full, full], null, 48, { agreement: 0 });
    expect(first.settled).toBe(0);
    expect(first.agreement).toBe(1);
    expect(first.unchangedLayers).toBe(0);
    expect(first.stable).toBe(false);
  });

  it('counts settled as 1 when every previous set is empty (nothing could move)', () => {
    const empty: LayerSets[] = [{ correlation: [], precision: [] }];
    const check = checkStability(empty, [empty, empty], empty, 56, { agreement: 0.9 });
    expect(check.settled).toBe(1);
    expect(check.agreement).toBe(1);
    expect(check.stable).toBe(true);
  });
});
