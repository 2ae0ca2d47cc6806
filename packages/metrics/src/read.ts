import {
  MOMENTS_METADATA_KEY,
  type makeTable,
  OutputModeSchema,
  type OutputMoments,
  tableMetadata,
  UserError,
} from '@neuronscope/core';
import type { LayerBlock } from './columns.js';
import type { MomentColumns } from './derive.js';

/** An Arrow table (the type `@neuronscope/core` builds and reads). */
export type Table = ReturnType<typeof makeTable>;

const UNIT = 'unit statistics';
const CHANNEL = 'channel statistics';

function column(t: Table, name: string, what: string) {
  const v = t.getChild(name);
  if (!v) throw new UserError(`${what}: the table has no column ${name}`);
  if (v.nullCount > 0) throw new UserError(`${what}: column ${name} holds nulls`);
  return v;
}

/** A numeric column as its typed array (zero-copy for a one-batch table). */
function numbers(t: Table, name: string, what: string): ArrayLike<number> {
  const values: unknown = column(t, name, what).toArray();
  if (!ArrayBuffer.isView(values)) throw new UserError(`${what}: column ${name} is not numeric`);
  return values as unknown as ArrayLike<number>;
}

function sums(t: Table, what: string): MomentColumns {
  return {
    shift: numbers(t, 'shift', what),
    sumA: numbers(t, 'sum_a', what),
    sumAA: numbers(t, 'sum_aa', what),
    sumAY: numbers(t, 'sum_ay', what),
  };
}

/** The output moments a table carries in its metadata, validated. */
export function readOutputMomentsOf(t: Table, what: string): OutputMoments {
  let m: Partial<OutputMoments> | undefined;
  try {
    m = tableMetadata<Partial<OutputMoments>>(t, MOMENTS_METADATA_KEY);
  } catch {
    throw new UserError(`${what}: metadata ${MOMENTS_METADATA_KEY} is not JSON`);
  }
  if (m === undefined) throw new UserError(`${what}: metadata ${MOMENTS_METADATA_KEY} is missing`);
  const finite = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  if (
    !Number.isInteger(m.count) ||
    !finite(m.yShift) ||
    !finite(m.sumY) ||
    !finite(m.sumYY) ||
    !Number.isInteger(m.target) ||
    !OutputModeSchema.safeParse(m.output).success
  ) {
    throw new UserError(`${what}: metadata ${MOMENTS_METADATA_KEY} is malformed`);
  }
  if ((m.count as number) < 2) throw new UserError(`${what}: ${m.count} copies; at least 2 are needed`);
  return m as OutputMoments;
}

/** The output moments both tables carry; they must agree (both tables come from one `extract` run). */
export function readOutputMoments(unitStats: Table, channelStats: Table): OutputMoments {
  const a = readOutputMomentsOf(unitStats, UNIT);
  const b = readOutputMomentsOf(channelStats, CHANNEL);
  const keys = ['count', 'yShift', 'sumY', 'sumYY', 'target', 'output'] as const;
  if (keys.some((k) => a[k] !== b[k])) {
    throw new UserError('unit and channel statistics come from different runs (their output moments differ)');
  }
  const { count, yShift, sumY, sumYY, target, output } = a;
  return { count, yShift, sumY, sumYY, target, output };
}

/**
 * The layers of the channel table and its sums. Rows must be grouped by layer in increasing layer_index,
 * with channels 0..C-1 in order within each layer.
 */
export function readChannelTable(t: Table): { layers: LayerBlock[]; sums: MomentColumns } {
  const n = t.numRows;
  if (n === 0) throw new UserError(`${CHANNEL}: the table is empty`);
  const layerIndex = numbers(t, 'layer_index', CHANNEL);
  const channel = numbers(t, 'channel', CHANNEL);
  const layerColumn = column(t, 'layer', CHANNEL);
  const layers: LayerBlock[] = [];
  let start = 0;
  for (let i = 1; i <= n; i++) {
    if (i < n && layerIndex[i] === layerIndex[start]) continue;
    const index = layerIndex[start]!;
    const previous = layers.at(-1);
    if (previous && index <= previous.layerIndex) {
      throw new UserError(`${CHANNEL}: rows are not ordered by layer_index (${index} follows ${previous.layerIndex})`);
    }
    const layer = String(layerColumn.get(start));
    for (let j = start; j < i; j++) {
      if (channel[j] !== j - start || String(layerColumn.get(j)) !== layer) {
        throw new UserError(`${CHANNEL}: rows of layer ${layer} are not channels 0..C-1 in order`);
      }
    }
    layers.push({ layer, layerIndex: index, channels: i - start, row: start });
    start = i;
  }
  return { layers, sums: sums(t, CHANNEL) };
}

/** First row in [lo, hi) whose layer_index exceeds `value` (rows are sorted by layer_index). */
function upperBound(values: { get(i: number): unknown }, value: number, lo: number, hi: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((values.get(mid) as number) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** One layer's slice of the unit table. */
export interface UnitBlock {
  readonly units: number;
  /** `channels * units` entries, channel-major. */
  readonly sums: MomentColumns;
}

/**
 * The unit table, one layer at a time (so memory holds one layer's columns, not the whole table), checked
 * against the channel table's layers: the same layers in the same order, each with rows ordered by channel
 * then unit, and the same number of units for every channel.
 */
export function* unitBlocks(t: Table, layers: readonly LayerBlock[]): Generator<UnitBlock> {
  const layerIndexColumn = column(t, 'layer_index', UNIT);
  const layerColumn = column(t, 'layer', UNIT);
  let start = 0;
  for (const block of layers) {
    const end = upperBound(layerIndexColumn, block.layerIndex, start, t.numRows);
    const rows = end - start;
    const units = rows / block.channels;
    const slice = t.slice(start, end);
    const mismatch = () =>
      new UserError(`${UNIT}: the rows of layer ${block.layer} do not match the channel statistics`);
    if (rows === 0 || !Number.isInteger(units)) throw mismatch();
    if (String(layerColumn.get(start)) !== block.layer || String(layerColumn.get(end - 1)) !== block.layer) {
      throw mismatch();
    }
    const layerIndex = numbers(slice, 'layer_index', UNIT);
    const channel = numbers(slice, 'channel', UNIT);
    const unit = numbers(slice, 'unit', UNIT);
    for (let j = 0, c = 0, u = 0; j < rows; j++) {
      if (layerIndex[j] !== block.layerIndex || channel[j] !== c || unit[j] !== u) {
        throw new UserError(
          `${UNIT}: rows of layer ${block.layer} are not ${block.channels} channels of ${units} units each, ` +
            'ordered by channel and unit',
        );
      }
      if (++u === units) {
        u = 0;
        c++;
      }
    }
    yield { units, sums: sums(slice, UNIT) };
    start = end;
  }
  if (start !== t.numRows) throw new UserError(`${UNIT}: rows of layers that the channel statistics do not have`);
}
