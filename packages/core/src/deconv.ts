/**
 * The contract of `deconv.parquet`: the deconvnet projections (Zeiler & Fergus 2014) of one run's selected neurons
 * onto the model input and their boxes (see {@link deconvSchema}). The settings (mode, unpooling, box threshold,
 * input geometry, and the layers that could not be projected, with why) are in the metadata.
 */
import type { Table } from 'apache-arrow';
import { z } from 'zod';
import { UserError } from './errors.js';
import { deconvSchema } from './schemas.js';
import { columnValues, makeTable, tableMetadata } from './tables.js';

/** Key of the schema metadata entry holding {@link DeconvMetadata}. */
export const DECONV_METADATA_KEY = 'neuronscope.deconv';

export const DeconvMetadataSchema = z.object({
  /** `deconvnet` (Zeiler & Fergus: ReLU applied to the backward signal) or `guided` (also masked by the forward). */
  mode: z.enum(['deconvnet', 'guided']),
  /** `nearest`: a pooled value spread over its window; `switches`: put back where the forward maximum was. */
  unpool: z.enum(['nearest', 'switches']),
  /** A box holds the pixels whose magnitude is at least this fraction of the projection's strongest pixel. */
  boxThreshold: z.number().min(0).max(1),
  /** Model input geometry: the projections' size. */
  inputHeight: z.number().int().positive(),
  inputWidth: z.number().int().positive(),
  channels: z.number().int().positive(),
  /** Layers with selected neurons that have no projection, and why (e.g. an operator without a backward rule). */
  skipped: z.array(z.object({ layer: z.string(), layerIndex: z.number().int(), reason: z.string() })),
});
export type DeconvMetadata = z.infer<typeof DeconvMetadataSchema>;

/** An inclusive rectangle of model-input pixels. */
export interface DeconvBox {
  readonly top: number;
  readonly left: number;
  readonly bottom: number;
  readonly right: number;
}

/** One selected neuron's projection. */
export interface DeconvRow {
  readonly layer: string;
  readonly layerIndex: number;
  readonly channel: number;
  readonly set: 'correlation' | 'precision' | 'both';
  /** The unit (y · W + x) the projection started from. */
  readonly unit: number;
  readonly activation: number;
  /** The box at the metadata's threshold; null for an all-zero projection. */
  readonly box: DeconvBox | null;
  /** The nonzero region, which `projection` holds; null for an all-zero projection. */
  readonly support: DeconvBox | null;
  /** C x rows x columns of `support`, channel-major (empty when `support` is null). */
  readonly projection: Float32Array;
}

const SIDES = ['top', 'left', 'bottom', 'right'] as const;

/** The values of a box column (`box_top`, ...) for every row. */
function boxColumn(rows: readonly DeconvRow[], which: 'box' | 'support', side: (typeof SIDES)[number]) {
  return rows.map((r) => r[which]?.[side] ?? null);
}

/** Values a projection of `support` holds for `channels` channels. */
export function supportSize(support: DeconvBox | null, channels: number): number {
  return support ? channels * (support.bottom - support.top + 1) * (support.right - support.left + 1) : 0;
}

/** The table of `rows` with its settings (and `metadata`, e.g. the run id) in the schema metadata. */
export function deconvTable(rows: readonly DeconvRow[], meta: DeconvMetadata, metadata: Record<string, string> = {}) {
  const dictionary = [...new Set(rows.map((r) => r.layer))];
  const offsets = new Int32Array(rows.length + 1);
  rows.forEach((r, i) => {
    if (r.projection.length !== supportSize(r.support, meta.channels)) {
      throw new Error(`deconv row ${i}: ${r.projection.length} values do not fill its support`);
    }
    offsets[i + 1] = offsets[i]! + r.projection.length;
  });
  const values = new Float32Array(offsets[rows.length]!);
  rows.forEach((r, i) => {
    values.set(r.projection, offsets[i]!);
  });
  const boxes = Object.fromEntries(
    (['box', 'support'] as const).flatMap((which) =>
      SIDES.map((side) => [`${which}_${side}`, boxColumn(rows, which, side)]),
    ),
  );
  return makeTable(
    deconvSchema,
    {
      layer: { indices: Int32Array.from(rows, (r) => dictionary.indexOf(r.layer)), dictionary },
      layer_index: Int32Array.from(rows, (r) => r.layerIndex),
      channel: Int32Array.from(rows, (r) => r.channel),
      set: rows.map((r) => r.set),
      unit: Int32Array.from(rows, (r) => r.unit),
      activation: Float32Array.from(rows, (r) => r.activation),
      ...boxes,
      projection: { offsets, values },
    },
    rows.length,
    { ...metadata, [DECONV_METADATA_KEY]: JSON.stringify(meta) },
  );
}

/** Row `i`'s box of kind `which`, or null when its sides are null. */
function readBox(table: Table, which: 'box' | 'support', i: number): DeconvBox | null {
  const [top, left, bottom, right] = SIDES.map((side) => table.getChild(`${which}_${side}`)?.get(i) as number | null);
  if (top === null || left === null || bottom === null || right === null) return null;
  if ([top, left, bottom, right].some((v) => v === undefined)) return null;
  return { top: top!, left: left!, bottom: bottom!, right: right! };
}

/** Reads a deconv table back: its rows and settings. A table without valid settings is a {@link UserError}. */
export function readDeconvTable(table: Table, path = 'deconv.parquet'): { rows: DeconvRow[]; meta: DeconvMetadata } {
  const parsed = DeconvMetadataSchema.safeParse(tableMetadata(table, DECONV_METADATA_KEY));
  if (!parsed.success) throw new UserError(`${path} lacks its settings metadata: run 'neuronscope deconv' again`);
  const meta = parsed.data;
  const layer = columnValues<string>(table, 'layer');
  const layerIndex = columnValues<number>(table, 'layer_index');
  const channel = columnValues<number>(table, 'channel');
  const set = columnValues<DeconvRow['set']>(table, 'set');
  const unit = columnValues<number>(table, 'unit');
  const activation = columnValues<number>(table, 'activation');
  const projections = table.getChild('projection');
  if (!projections) throw new UserError(`${path} has no projection column`);
  return {
    meta,
    rows: Array.from({ length: table.numRows }, (_, i) => {
      const support = readBox(table, 'support', i);
      const values = projections.get(i) as { toArray(): Float32Array } | null;
      const projection = Float32Array.from(values?.toArray() ?? []);
      if (projection.length !== supportSize(support, meta.channels)) {
        throw new UserError(`${path}: row ${i}'s projection does not fill its support box`);
      }
      const row = { layer: layer[i]!, layerIndex: layerIndex[i]!, channel: channel[i]!, set: set[i]! };
      return { ...row, unit: unit[i]!, activation: activation[i]!, box: readBox(table, 'box', i), support, projection };
    }),
  };
}

/**
 * A row's projection over the whole input, channel-major (C x H x W, zero outside its support): what the
 * deconvnet computed, in the tensor's channel order.
 */
export function expandProjection(
  row: DeconvRow,
  meta: Pick<DeconvMetadata, 'channels' | 'inputHeight' | 'inputWidth'>,
) {
  const { channels, inputHeight: H, inputWidth: W } = meta;
  const full = new Float32Array(channels * H * W);
  const s = row.support;
  if (!s) return full;
  const rows = s.bottom - s.top + 1;
  const cols = s.right - s.left + 1;
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < rows; y++) {
      const from = (c * rows + y) * cols;
      full.set(row.projection.subarray(from, from + cols), (c * H + s.top + y) * W + s.left);
    }
  }
  return full;
}
