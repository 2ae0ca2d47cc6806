/**
 * The contract of `faithfulness.parquet`: deletion and insertion curves (Petsiuk, Das & Saenko 2018) of the run's
 * RISE map of the output, and of random maps of the same smoothness as the baseline. A deletion curve replaces
 * the map's highest-ranked cells of the image first (by the maps' baseline) and follows the target's probability;
 * an insertion curve starts from a blurred image and puts the highest-ranked cells back first. One row per curve
 * point; the settings and the areas under the curves are in the metadata.
 */
import { Field, Float64, Int32, Schema, type Table, Utf8 } from 'apache-arrow';
import { z } from 'zod';
import { UserError } from './errors.js';
import { columnValues, makeTable, tableMetadata } from './tables.js';

/** Key of the schema metadata entry holding {@link FaithfulnessMetadata}. */
export const FAITHFULNESS_METADATA_KEY = 'neuronscope.faithfulness';

/** `rise`: the output's RISE map; `random`: a random smooth map (one per `draw`). */
export type CurveMap = 'rise' | 'random';
export type CurveKind = 'deletion' | 'insertion';

const CurveAreaSchema = z.object({
  map: z.enum(['rise', 'random']),
  draw: z.number().int(),
  curve: z.enum(['deletion', 'insertion']),
  /** Area under the probability curve over the fraction of cells, in [0, 1] (trapezoids). */
  auc: z.number(),
});

export const FaithfulnessMetadataSchema = z.object({
  /** Curve points: fractions 0, 1/steps, ..., 1 of the map's cells. */
  steps: z.number().int().positive(),
  /** Random maps drawn as the baseline. */
  randomMaps: z.number().int().min(0),
  seed: z.number().int().min(0),
  target: z.number().int(),
  /** What deleted cells become, and what an insertion starts from. */
  deletionBaseline: z.string(),
  insertionBaseline: z.string(),
  /** Map cells (the unit of the curves). */
  cells: z.number().int().positive(),
  areas: z.array(CurveAreaSchema),
});
export type FaithfulnessMetadata = z.infer<typeof FaithfulnessMetadataSchema>;

/** One point of a curve. */
export interface CurvePoint {
  readonly map: CurveMap;
  /** -1 for the RISE map; the random map's index otherwise. */
  readonly draw: number;
  readonly curve: CurveKind;
  readonly step: number;
  /** Fraction of the map's cells deleted (or inserted). */
  readonly fraction: number;
  /** The target's softmax probability on that copy. */
  readonly probability: number;
  readonly top1: number;
}

export const faithfulnessSchema = new Schema([
  new Field('map', new Utf8(), false),
  new Field('draw', new Int32(), false),
  new Field('curve', new Utf8(), false),
  new Field('step', new Int32(), false),
  new Field('fraction', new Float64(), false),
  new Field('probability', new Float64(), false),
  new Field('top1', new Int32(), false),
]);

/** `faithfulness.parquet` from its points and settings (plus e.g. the run id in `metadata`). */
export function faithfulnessTable(
  points: readonly CurvePoint[],
  meta: FaithfulnessMetadata,
  metadata: Record<string, string> = {},
): Table {
  return makeTable(
    faithfulnessSchema,
    {
      map: points.map((p) => p.map),
      draw: Int32Array.from(points, (p) => p.draw),
      curve: points.map((p) => p.curve),
      step: Int32Array.from(points, (p) => p.step),
      fraction: Float64Array.from(points, (p) => p.fraction),
      probability: Float64Array.from(points, (p) => p.probability),
      top1: Int32Array.from(points, (p) => p.top1),
    },
    points.length,
    { ...metadata, [FAITHFULNESS_METADATA_KEY]: JSON.stringify(meta) },
  );
}

/** The points and settings of a `faithfulness.parquet` table. */
export function readFaithfulnessTable(
  table: Table,
  path = 'faithfulness.parquet',
): { points: CurvePoint[]; meta: FaithfulnessMetadata } {
  const parsed = FaithfulnessMetadataSchema.safeParse(tableMetadata(table, FAITHFULNESS_METADATA_KEY));
  if (!parsed.success) throw new UserError(`${path} lacks its settings metadata: run 'neuronscope maps' again`);
  const map = columnValues<CurveMap>(table, 'map');
  const draw = columnValues<number>(table, 'draw');
  const curve = columnValues<CurveKind>(table, 'curve');
  const step = columnValues<number>(table, 'step');
  const fraction = columnValues<number>(table, 'fraction');
  const probability = columnValues<number>(table, 'probability');
  const top1 = columnValues<number>(table, 'top1');
  const points = Array.from({ length: table.numRows }, (_, i) => ({
    map: map[i]!,
    draw: draw[i]!,
    curve: curve[i]!,
    step: step[i]!,
    fraction: fraction[i]!,
    probability: probability[i]!,
    top1: top1[i]!,
  }));
  return { points, meta: parsed.data };
}
