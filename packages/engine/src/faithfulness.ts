/**
 * Is the RISE map of the output faithful to the model? Deletion and insertion curves (Petsiuk, Das & Saenko
 * 2018), run through the explainer's pool (the `blend` task kind): the map's cells are ranked from most to least
 * salient; the deletion curve replaces the top fraction f of the cells of the image by the maps' baseline (what
 * a masked cell showed while the map was measured) and records the target's probability at f = 0, 1/S, ..., 1; the
 * insertion curve starts from a blurred image (RISE's choice: a blank start would be out of distribution) and puts
 * the top fraction f of the image back. A faithful map makes the probability fall fast on deletion (small area
 * under the curve) and rise fast on insertion (large area).
 *
 * Whether that is better than chance depends on the image, so the same curves are run for random maps of the same
 * smoothness as RISE's (uniform values on the masks' grid, upsampled bilinearly to the map's cells): the map is
 * better than chance for this image when its deletion area is below, and its insertion area above, the random ones.
 */
import type { MapGrid } from '@neuronscope/activations';
import {
  type CurveKind,
  type CurvePoint,
  type FaithfulnessMetadata,
  faithfulnessTable,
  type InputTensor,
  type MapsMetadata,
  mulberry32,
  RUN_METADATA_KEY,
  tableToParquet,
} from '@neuronscope/core';
import { baselineFor, defaultBlurSigma } from '@neuronscope/perturb';
import type { Explainer } from './explainer.js';

/** Curve points per curve beyond f = 0 (so fractions 0, 0.05, ..., 1). */
export const CURVE_STEPS = 20;
/** Random maps drawn as the baseline. */
export const RANDOM_MAPS = 5;

/** The curves of one run, with their areas, and `faithfulness.parquet` encoded. */
export interface FaithfulnessResult {
  readonly points: readonly CurvePoint[];
  readonly meta: FaithfulnessMetadata;
  readonly bytes: Uint8Array;
}

/** Rank of every cell (0 = most salient), by value descending; NaN cells last; ties by cell index. */
export function rankCells(map: ArrayLike<number>): Int32Array {
  const order = Array.from({ length: map.length }, (_, q) => q);
  const key = (q: number) => (Number.isNaN(map[q]!) ? Number.NEGATIVE_INFINITY : map[q]!);
  order.sort((a, b) => key(b) - key(a) || a - b);
  const ranks = new Int32Array(map.length);
  order.forEach((q, r) => {
    ranks[q] = r;
  });
  return ranks;
}

/**
 * A random map as smooth as a RISE map: uniform values on a `grid` x `grid` lattice, interpolated bilinearly at
 * the centres of the map's cells (mapHeight x mapWidth, row-major).
 */
export function randomSmoothMap(grid: number, mapHeight: number, mapWidth: number, next: () => number): Float32Array {
  const lattice = Float64Array.from({ length: grid * grid }, () => next());
  const at = (i: number, j: number) => lattice[Math.min(grid - 1, i) * grid + Math.min(grid - 1, j)]!;
  const out = new Float32Array(mapHeight * mapWidth);
  for (let y = 0; y < mapHeight; y++) {
    const sy = Math.max(0, ((y + 0.5) * grid) / mapHeight - 0.5);
    const i = Math.floor(sy);
    const ty = sy - i;
    for (let x = 0; x < mapWidth; x++) {
      const sx = Math.max(0, ((x + 0.5) * grid) / mapWidth - 0.5);
      const j = Math.floor(sx);
      const tx = sx - j;
      const top = at(i, j) + tx * (at(i, j + 1) - at(i, j));
      const bottom = at(i + 1, j) + tx * (at(i + 1, j + 1) - at(i + 1, j));
      out[y * mapWidth + x] = top + ty * (bottom - top);
    }
  }
  return out;
}

/** Area under a curve of probabilities over fractions in [0, 1], by trapezoids. */
export function curveArea(fractions: ArrayLike<number>, probability: ArrayLike<number>): number {
  let area = 0;
  for (let k = 1; k < fractions.length; k++) {
    area += ((fractions[k]! - fractions[k - 1]!) * (probability[k]! + probability[k - 1]!)) / 2;
  }
  return area;
}

/** Cells counted at each step: round(k / steps · cells). */
function stepCounts(cells: number, steps: number): number[] {
  return Array.from({ length: steps + 1 }, (_, k) => Math.round((k * cells) / steps));
}

/** The two curves of a map, in the order of its copies. */
const CURVES: readonly CurveKind[] = ['deletion', 'insertion'];

/** Sources of the copies: 0 the image, 1 what a deleted cell shows, 2 the blurred start of an insertion. */
function curveSources(input: InputTensor, meta: MapsMetadata): { sources: Float32Array[]; names: [string, string] } {
  const sigma = defaultBlurSigma(input.height, input.width);
  const deleted = Float32Array.from(baselineFor(input, meta.baseline, sigma));
  const blurred = Float32Array.from(baselineFor(input, 'blur', sigma));
  const deletion =
    meta.baseline === 'zero'
      ? 'zero in model-input space (the maps’ baseline)'
      : meta.baseline === 'mean'
        ? "the image's mean colour (the maps’ baseline)"
        : `a Gaussian blur, σ = ${sigma} px (the maps’ baseline)`;
  return {
    sources: [input.data, deleted, blurred],
    names: [deletion, `a Gaussian blur of the image, σ = ${sigma} px`],
  };
}

/**
 * Runs the deletion and insertion curves of the RISE map `rise` and of {@link RANDOM_MAPS} random maps on the
 * explainer's pool; see the module comment.
 */
export async function computeFaithfulness(
  explainer: Explainer,
  run: { id: string; input: InputTensor; target: number },
  rise: Float32Array,
  meta: MapsMetadata,
  grid: MapGrid,
  call: { signal?: AbortSignal } = {},
): Promise<FaithfulnessResult> {
  const next = mulberry32((meta.seed ^ 0x5eed) >>> 0);
  const maps = [
    rise,
    ...Array.from({ length: RANDOM_MAPS }, () => randomSmoothMap(meta.grid, grid.mapHeight, grid.mapWidth, next)),
  ];
  const rankings = maps.map(rankCells);
  const cells = grid.mapHeight * grid.mapWidth;
  const counts = stepCounts(cells, CURVE_STEPS);
  const { sources, names } = curveSources(run.input, meta);
  const copies = rankings.flatMap((_, ranking) =>
    CURVES.flatMap((curve) =>
      counts.map((count) =>
        curve === 'deletion' ? { ranking, count, first: 1, rest: 0 } : { ranking, count, first: 0, rest: 2 },
      ),
    ),
  );
  const outcome = await explainer.pool.blend({
    shape: run.input,
    sources,
    rankings,
    grid,
    copies,
    target: run.target,
    ...(call.signal ? { signal: call.signal } : {}),
  });
  const points: CurvePoint[] = copies.map((copy, i) => {
    const step = i % counts.length;
    return {
      map: copy.ranking === 0 ? 'rise' : 'random',
      draw: copy.ranking - 1,
      curve: CURVES[Math.floor(i / counts.length) % CURVES.length]!,
      step,
      fraction: counts[step]! / cells,
      probability: outcome.probability[i]!,
      top1: outcome.top1[i]!,
    };
  });
  const areas = curveAreas(points, counts.length);
  const faithfulness: FaithfulnessMetadata = {
    steps: CURVE_STEPS,
    randomMaps: RANDOM_MAPS,
    seed: meta.seed,
    target: run.target,
    deletionBaseline: names[0],
    insertionBaseline: names[1],
    cells,
    areas,
  };
  const bytes = tableToParquet(faithfulnessTable(points, faithfulness, { [RUN_METADATA_KEY]: run.id }));
  return { points, meta: faithfulness, bytes };
}

/** The area under every curve of `points` (consecutive runs of `length` points). */
function curveAreas(points: readonly CurvePoint[], length: number): FaithfulnessMetadata['areas'] {
  const areas: FaithfulnessMetadata['areas'] = [];
  for (let start = 0; start < points.length; start += length) {
    const curve = points.slice(start, start + length);
    const first = curve[0]!;
    areas.push({
      map: first.map,
      draw: first.draw,
      curve: first.curve,
      auc: curveArea(
        curve.map((p) => p.fraction),
        curve.map((p) => p.probability),
      ),
    });
  }
  return areas;
}
