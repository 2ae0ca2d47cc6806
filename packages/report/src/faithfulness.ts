/**
 * The faithfulness of the output's heat map, in numbers: per curve (deletion, insertion), the area under the RISE
 * map's curve against the areas of the random maps', and whether the map beats every random one.
 */
import type { FaithfulnessMetadata } from '@neuronscope/core';

/** One curve's areas. */
export interface CurveScore {
  readonly curve: 'deletion' | 'insertion';
  /** Area under the RISE map's curve. */
  readonly map: number;
  /** Areas under the random maps' curves. */
  readonly random: readonly number[];
  readonly randomMean: number;
  readonly randomMin: number;
  readonly randomMax: number;
  /** Deletion: below every random map; insertion: above every one. */
  readonly beatsRandom: boolean;
}

/** The scores of both curves; null when the metadata holds no RISE curve (nothing was measured). */
export function faithfulnessScores(meta: FaithfulnessMetadata): { deletion: CurveScore; insertion: CurveScore } | null {
  const score = (curve: 'deletion' | 'insertion'): CurveScore | null => {
    const map = meta.areas.find((a) => a.map === 'rise' && a.curve === curve)?.auc;
    const random = meta.areas.filter((a) => a.map === 'random' && a.curve === curve).map((a) => a.auc);
    if (map === undefined || random.length === 0) return null;
    const randomMin = Math.min(...random);
    const randomMax = Math.max(...random);
    return {
      curve,
      map,
      random,
      randomMean: random.reduce((a, b) => a + b, 0) / random.length,
      randomMin,
      randomMax,
      beatsRandom: curve === 'deletion' ? map < randomMin : map > randomMax,
    };
  };
  const deletion = score('deletion');
  const insertion = score('insertion');
  return deletion && insertion ? { deletion, insertion } : null;
}
