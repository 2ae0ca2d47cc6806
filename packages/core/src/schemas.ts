/**
 * The Arrow schemas of every table that stages pass between them. One place, imported by all stages:
 * a column is renamed or retyped here or nowhere.
 */
import {
  Bool,
  Dictionary,
  Field,
  FixedSizeList,
  Float32,
  Float64,
  Int32,
  List,
  Schema,
  Uint32,
  Utf8,
} from 'apache-arrow';

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
 * `unit_stats.parquet` (one row per layer, channel and spatial unit; written only when asked, e.g.
 * `--keep-unit-stats`): shifted sufficient statistics over the copies. With d = a - shift and e = y - yShift:
 * sum_a = sum d, sum_aa = sum d^2, sum_ay = sum d*e. The shift (the clean copy's activation) keeps large means
 * from cancelling in float64.
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

/**
 * The per-neuron metric columns, in the order the tables hold them: what `channel_stats.parquet` (extract) and
 * `neurons.parquet` (stats) carry for every channel. A new metric adds its column here and in the metrics registry.
 */
export const METRIC_COLUMNS = ['correlation', 'correlation_channel', 'precision', 'snr', 'mean_activation'] as const;
export type MetricColumn = (typeof METRIC_COLUMNS)[number];
const metricFields = () => METRIC_COLUMNS.map((name) => float64(name));

/**
 * `channel_stats.parquet`: one row per layer and channel, everything extraction learnt of the channel that later
 * stages read. The shifted moments of the channel's spatial-mean activation (as {@link momentsSchema}), the metric
 * columns reduced from the per-unit moments (which are not kept by default), and the clean image's most active unit.
 */
export const channelStatsSchema = new Schema([
  layerField(),
  int32('layer_index'),
  int32('channel'),
  /** The clean copy's spatial-mean activation (the shift of the sums). */
  new Field('shift', new Float32(), false),
  float64('sum_a'),
  float64('sum_aa'),
  float64('sum_ay'),
  ...metricFields(),
  /** Index (y * W + x) of the unit with the highest activation on the clean image (lowest index on ties). */
  int32('peak_unit'),
  /** Its clean activation. */
  new Field('peak_value', new Float32(), false),
]);

/** `neurons.parquet`: one row per layer and channel, the result of the `stats` stage. */
export const neuronsSchema = new Schema([
  layerField(),
  int32('layer_index'),
  int32('channel'),
  // correlation, correlation_channel, precision, snr, mean_activation: see METRIC_DEFINITIONS.
  ...metricFields(),
  new Field('eligible', new Bool(), false),
  int32('rank_correlation', true),
  int32('rank_precision', true),
  new Field('selected_correlation', new Bool(), false),
  new Field('selected_precision', new Bool(), false),
  int32('global_rank_correlation', true),
  int32('global_rank_precision', true),
]);

/**
 * `deconv.parquet`: one row per selected neuron, its deconvnet projection (Zeiler & Fergus 2014) onto the model
 * input from its most active unit on the clean image, and the projection's box. The projection is stored inside
 * its support (the smallest box holding every nonzero pixel; zero outside it), channel-major: C x rows x columns of
 * that box, in the tensor's channel order, whatever the model's layout. An all-zero projection has null boxes and
 * an empty list. Boxes are inclusive model-input pixels; the box threshold is in the metadata (`neuronscope.deconv`).
 */
export const deconvSchema = new Schema([
  layerField(),
  int32('layer_index'),
  int32('channel'),
  /** correlation, precision or both: the selection(s) the neuron belongs to. */
  new Field('set', new Utf8(), false),
  /** The unit (y * W + x) the projection started from: the most active on the clean image. */
  int32('unit'),
  /** Its clean activation (the projection's starting value). */
  new Field('activation', new Float32(), false),
  /** Where the projection is at least the threshold times its strongest pixel (|.| summed over channels). */
  ...['box_top', 'box_left', 'box_bottom', 'box_right'].map((name) => int32(name, true)),
  /** Where the projection is nonzero: the region `projection` holds. */
  ...['support_top', 'support_left', 'support_bottom', 'support_right'].map((name) => int32(name, true)),
  new Field('projection', new List(new Field('item', new Float32(), false)), false),
]);

/** Key of the schema metadata entry that carries {@link OutputMoments} in the moments tables. */
export const MOMENTS_METADATA_KEY = 'neuronscope.moments';

/**
 * Key of the schema metadata entry that carries the run id in every table of a run folder: a stage refuses a table
 * whose id differs from `run.json`'s (tables of another run, e.g. left by a killed rerun).
 */
export const RUN_METADATA_KEY = 'neuronscope.run';

// Dataset sweeps (`neuronscope sweep`, `aggregate`): see docs/sweeps.md.

const utf8 = (name: string, nullable = false) => new Field(name, new Utf8(), nullable);
const bool = (name: string, nullable = false) => new Field(name, new Bool(), nullable);

/**
 * `sweep/neurons.parquet` (and each per-image part `sweep/parts/<key>.parquet`): one row per image, layer and
 * channel, sorted by (image, layer_index, channel): the metrics and selections of `neurons.parquet`, plus the
 * channel's mean activation on the clean image (the input of the dataset-level class selectivity).
 */
export const sweepNeuronsSchema = new Schema([
  new Field('image', new Dictionary(new Utf8(), new Int32()), false),
  layerField(),
  int32('layer_index'),
  int32('channel'),
  float64('correlation'),
  float64('correlation_channel'),
  float64('precision'),
  float64('snr'),
  float64('mean_activation'),
  /** Spatial-mean activation of the channel on the clean image (copy 0). */
  new Field('clean_activation', new Float32(), false),
  /** The channel's most active unit on the clean image (y * W + x) and its activation: where its atlas crop is. */
  int32('peak_unit'),
  new Field('peak_value', new Float32(), false),
  bool('eligible'),
  int32('rank_correlation', true),
  int32('rank_precision', true),
  bool('selected_correlation'),
  bool('selected_precision'),
]);

/** `sweep/images.parquet`: one row per image of the sweep, sorted by image; failed images keep their error. */
export const sweepImagesSchema = new Schema([
  /** The image's name in the sweep: path relative to the source, manifest entry, or `<idx stem>:<index>`. */
  utf8('image'),
  /** Where it came from: a file path, or `<idx file>#<index>`. */
  utf8('source'),
  int32('label', true),
  utf8('label_name', true),
  /** The clean image's top-1 class and its probability. */
  int32('prediction', true),
  utf8('prediction_name', true),
  float64('probability', true),
  /** The class whose output y the metrics correlate with. */
  int32('target', true),
  utf8('target_name', true),
  float64('target_probability', true),
  /** Fraction of the copies whose top-1 is the target. */
  float64('copies_keeping_target', true),
  /** `ok`, `error` (the image could not be analysed, e.g. not an image) or `failed` (the job kept failing). */
  utf8('status'),
  utf8('error', true),
  /** Content key of the image's result part: hash of the analysis settings, the image name, bytes and label. */
  utf8('key'),
]);

/** `sweep/selection.parquet`: per target class and neuron, how often each metric selected it. */
export const sweepSelectionSchema = new Schema([
  int32('class'),
  utf8('class_name', true),
  layerField(),
  int32('layer_index'),
  int32('channel'),
  /** Analysed images with this target class. */
  int32('images'),
  int32('selected_correlation'),
  int32('selected_precision'),
  float64('rate_correlation'),
  float64('rate_precision'),
]);

/**
 * `sweep/selectivity.parquet`: per neuron and class, the AUROC of the neuron's clean activation for images of the
 * class against the rest (0.5: no preference, 1: every image of the class activates it more than any other).
 */
export const sweepSelectivitySchema = new Schema([
  layerField(),
  int32('layer_index'),
  int32('channel'),
  int32('class'),
  utf8('class_name', true),
  int32('positives'),
  int32('negatives'),
  float64('auroc'),
]);

/**
 * `sweep/aggregate.parquet`: per layer (and `(all)` with layer_index -1), the mean class selectivity (AUROC for the
 * image's target class) of the neurons selected by correlation and by precision, over images, with 95% bootstrap
 * confidence intervals, the paired difference precision - correlation, and the layer's mean over all neurons.
 */
export const sweepComparisonSchema = new Schema([
  utf8('layer'),
  int32('layer_index'),
  int32('images'),
  float64('correlation_mean', true),
  float64('correlation_low', true),
  float64('correlation_high', true),
  float64('precision_mean', true),
  float64('precision_low', true),
  float64('precision_high', true),
  float64('baseline_mean', true),
  float64('difference_mean', true),
  float64('difference_low', true),
  float64('difference_high', true),
  /** Fraction of images whose precision-selected neurons are more selective than their correlation-selected. */
  float64('precision_higher', true),
]);

/** Metadata key of a sweep part: its `sweepImagesSchema` row as JSON. */
export const SWEEP_IMAGE_METADATA_KEY = 'neuronscope.image';
