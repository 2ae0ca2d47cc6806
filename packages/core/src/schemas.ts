/**
 * The Arrow schemas of every table that stages pass between them. One place, imported by all stages:
 * a column is renamed or retyped here or nowhere.
 */
import { Bool, Dictionary, Field, FixedSizeList, Float32, Float64, Int32, Schema, Uint32, Utf8 } from 'apache-arrow';

/** Layer names repeat on every row: dictionary-encode them. */
const layerField = () => new Field('layer', new Dictionary(new Utf8(), new Int32()), false);
const int32 = (name: string, nullable = false) => new Field(name, new Int32(), nullable);
const float64 = (name: string, nullable = false) => new Field(name, new Float64(), nullable);

/** `perturbations.parquet`: one row per copy; the pixels are regenerated from it, never stored. */
export const perturbationsSchema = new Schema([
  int32('copy'),
  new Field('family', new Utf8(), false),
  /** Seed of this copy's random stream, derived from the run seed and the copy index. */
  new Field('seed', new Uint32(), false),
  /** The family's parameters for this copy, as JSON (validated by the family). */
  new Field('params', new Utf8(), false),
]);

/** `outputs.parquet`: one row per copy with every class's logit and the output y used by the metrics. */
export function outputsSchema(numClasses: number): Schema {
  return new Schema([
    int32('copy'),
    new Field('logits', new FixedSizeList(numClasses, new Field('item', new Float32(), false)), false),
    float64('y'),
    int32('top1'),
  ]);
}

/** `activations.parquet`: one row per copy, layer and channel: the channel's spatial-mean activation. */
export const activationsSchema = new Schema([
  int32('copy'),
  layerField(),
  int32('layer_index'),
  int32('channel'),
  new Field('mean', new Float32(), false),
]);

/**
 * `unit_stats.parquet` (one row per layer, channel and spatial unit) and `channel_stats.parquet` (one row per
 * layer and channel, for the channel's spatial mean): shifted sufficient statistics over the copies.
 * With d = a - shift and e = y - yShift: sum_a = sum d, sum_aa = sum d^2, sum_ay = sum d*e. The shift (the
 * clean copy's activation) keeps large means from cancelling in float64.
 */
export function momentsSchema(kind: 'unit' | 'channel'): Schema {
  return new Schema([
    layerField(),
    int32('layer_index'),
    int32('channel'),
    ...(kind === 'unit' ? [int32('unit')] : []),
    new Field('shift', new Float32(), false),
    float64('sum_a'),
    float64('sum_aa'),
    float64('sum_ay'),
  ]);
}

/** `neurons.parquet`: one row per layer and channel, the result of the `stats` stage. */
export const neuronsSchema = new Schema([
  layerField(),
  int32('layer_index'),
  int32('channel'),
  /** The paper's: mean over the channel's units of |Pearson r| with y, NaN units ignored (NaN if all are). */
  float64('correlation'),
  /** |Pearson r| between the channel's spatial-mean activation and y. */
  float64('correlation_channel'),
  /** The paper's: 1 / mean over units of the (population) variance over the copies. */
  float64('precision'),
  /** mean_activation^2 / mean unit variance: precision made scale-free. */
  float64('snr'),
  /** Mean activation over units and copies. */
  float64('mean_activation'),
  new Field('eligible', new Bool(), false),
  int32('rank_correlation', true),
  int32('rank_precision', true),
  new Field('selected_correlation', new Bool(), false),
  new Field('selected_precision', new Bool(), false),
  int32('global_rank_correlation', true),
  int32('global_rank_precision', true),
]);

/** Key of the schema metadata entry that carries {@link OutputMoments} in the moments tables. */
export const MOMENTS_METADATA_KEY = 'neuronscope.moments';
