import { Bool, Dictionary, Field, Float32, Float64, Int32, List, Schema, Utf8 } from 'apache-arrow';
import { z } from 'zod';

/** How an image file becomes the model's input tensor. */
export const PreprocessingSchema = z.object({
  /** Name of the preset the values came from (`imagenet`, `inception`, `caffe`, `none`), kept for display. */
  preset: z.enum(['imagenet', 'inception', 'caffe', 'none']),
  /** Resize the shorter side to this many pixels, then centre-crop; null: resize straight to the final size. */
  resizeShorter: z.number().int().positive().nullable(),
  /** Final [height, width] of the input tensor. */
  size: z.tuple([z.number().int().positive(), z.number().int().positive()]),
  /** Pixel values are divided by this first (255 maps 8-bit values to [0, 1]). */
  scale: z.number().positive(),
  /** Per-channel mean subtracted after scaling (one value per input channel, or one for all). */
  mean: z.array(z.number()).min(1),
  /** Per-channel std divided after the mean (one value per input channel, or one for all). */
  std: z.array(z.number().positive()).min(1),
  layout: z.enum(['NCHW', 'NHWC']),
  grayscale: z.boolean(),
  /**
   * Order of the colour channels in the tensor: `RGB`, or `BGR` (Caffe-trained weights). Channel c of `mean` and
   * `std` applies to channel c of the tensor, in this order. Absent in run.json files written before it existed: RGB.
   */
  channelOrder: z.enum(['RGB', 'BGR']).default('RGB'),
});
export type Preprocessing = z.infer<typeof PreprocessingSchema>;

/** A perturbation family and its settings; the family validates `params` itself. */
/**
 * `--samples auto`: copies are run in a stratified order and extraction stops once every layer's top-k sets are
 * stable (the rule is documented in docs/performance.md); `samples` is then the most copies it may use.
 */
export const AutoSamplingSchema = z.object({
  /** The k and eligibility threshold of the top-k sets whose stability is checked. */
  topK: z.number().int().positive(),
  eligibility: z.number(),
  /** Required agreement of the sets (with the previous check's and between half-samples); 0.9 when absent. */
  agreement: z.number().min(0).max(1).optional(),
});
export type AutoSampling = z.infer<typeof AutoSamplingSchema>;

export const PerturbationSpecSchema = z.object({
  family: z.string().min(1),
  /** Number of copies N, copy 0 included (with `auto`: the most copies that may run). */
  samples: z.number().int().min(3),
  seed: z.number().int().min(0).max(0xffffffff),
  params: z.record(z.string(), z.unknown()),
  /** Present with `--samples auto`. */
  auto: AutoSamplingSchema.optional(),
});
export type PerturbationSpec = z.infer<typeof PerturbationSpecSchema>;

/** What the output y of the network is, as a function of the logits. */
export const OutputModeSchema = z.enum(['prob', 'logit', 'logprob']);
export type OutputMode = z.infer<typeof OutputModeSchema>;

/**
 * How the model's (first) output relates to the class scores z it is computed from, as read from the graph:
 * `logits` (the output is z), `softmax` / `log-softmax` (the output is Softmax(z) / LogSoftmax(z) over classes),
 * `sigmoid` (multi-label: each class's output is sigmoid(z_c)). y is always computed from z.
 */
export const OutputKindSchema = z.enum(['logits', 'softmax', 'log-softmax', 'sigmoid']);
export type OutputKind = z.infer<typeof OutputKindSchema>;

/** A recorded layer as stored in `run.json` (see {@link LayerInfo}). */
export const LayerInfoSchema = z.object({
  layer: z.string(),
  layerIndex: z.number().int().min(0),
  convNode: z.string(),
  op: z.string(),
  channels: z.number().int().positive(),
  height: z.number().int().positive(),
  width: z.number().int().positive(),
});

/** The file that every stage of one run reads: which model, image and settings it is about. */
export const RunConfigSchema = z.object({
  version: z.literal(1),
  model: z.object({
    path: z.string(),
    sha256: z.string(),
    input: z.string(),
    /** The tensor y is computed from: the logits (the pre-activation tensor when the model ends in an activation). */
    output: z.string(),
    /** What the model's own output is (see {@link OutputKindSchema}); absent in older run.json files: `logits`. */
    outputKind: OutputKindSchema.optional(),
  }),
  image: z.object({
    /** Absolute path of the image (or `.npy` tensor) file; null for one given in memory and not saved yet. */
    path: z.string().nullable(),
    /** SHA-256 of the file's bytes (for a tensor: of its float32 values). */
    sha256: z.string(),
    width: z.number().int(),
    height: z.number().int(),
    /** An image file, or a tensor already preprocessed for the model. */
    kind: z.enum(['image', 'tensor']).default('image'),
  }),
  labels: z
    .object({
      path: z.string(),
      sha256: z.string(),
      /** Output 0 is a background class the file leaves out (`--background`): line i names output i + 1. */
      background: z.boolean().optional(),
    })
    .nullable(),
  preprocessing: PreprocessingSchema,
  perturbation: PerturbationSpecSchema,
  /** The recorded layers, in depth order. */
  layers: z.array(LayerInfoSchema).min(1),
  /** Target class index, or null: the clean image's top-1, fixed by `extract`. */
  target: z.number().int().min(0).nullable(),
  output: OutputModeSchema,
  /** Copies per inference call. */
  batchSize: z.number().int().positive(),
});
export type RunConfig = z.infer<typeof RunConfigSchema>;

/** Settings of the `stats` stage. */
export const StatsConfigSchema = z.object({
  topK: z.number().int().positive(),
  /** Channels whose mean activation is below this are not eligible for precision. */
  eligibility: z.number(),
});
export type StatsConfig = z.infer<typeof StatsConfigSchema>;

// JSON has no NaN or Infinity: null stands for an undefined correlation (all units constant) and for an infinite
// precision (an eligible channel whose units never vary). neurons.parquet keeps the IEEE values.
const SelectedNeuronSchema = z.object({
  channel: z.number().int(),
  correlation: z.number().nullable(),
  precision: z.number().nullable(),
  meanActivation: z.number(),
});

const OverlapSchema = z.object({
  /** The paper's overlap |A and B| / (|A| + |B|): 0.5 when the sets are equal. */
  overlap: z.number(),
  jaccard: z.number(),
  /** Spearman's rank correlation between correlation and precision over channels where both exist. */
  spearman: z.number().nullable(),
  /** Channels that entered the Spearman computation. */
  spearmanCount: z.number().int(),
});

export const LayerSummarySchema = z.object({
  layer: z.string(),
  layerIndex: z.number().int(),
  channels: z.number().int(),
  height: z.number().int(),
  width: z.number().int(),
  /** Spatial units per channel (height x width). */
  units: z.number().int(),
  eligible: z.number().int(),
  byCorrelation: z.array(SelectedNeuronSchema),
  byPrecision: z.array(SelectedNeuronSchema),
  comparison: OverlapSchema,
});
export type LayerSummary = z.infer<typeof LayerSummarySchema>;

const PredictionSchema = z.object({ index: z.number().int(), label: z.string().nullable(), probability: z.number() });

// Ablation test (`neuronscope ablate`): does switching off the selected channels change the prediction more
// than switching off random channels? One entry per tested layer; `ablation.parquet` holds every variant.
const AblatedSetSchema = z.object({
  channels: z.array(z.number().int()),
  /** Target probability after the ablation. */
  probability: z.number(),
  /** Target probability of the unablated network minus `probability`. */
  drop: z.number(),
  top1: z.number().int(),
  top1Changed: z.boolean(),
  /** Where `drop` falls among the random sets' drops: fraction below, ties counted half. */
  percentile: z.number(),
  /** (drop - random mean) / random std; null when the random drops do not vary. */
  zScore: z.number().nullable(),
});

export const AblationLayerSchema = z.object({
  layer: z.string(),
  layerIndex: z.number().int(),
  channels: z.number().int(),
  k: z.number().int(),
  /** Where the random sets came from: eligible channels, or all when fewer than k are eligible. */
  pool: z.enum(['eligible', 'all']),
  poolSize: z.number().int(),
  correlation: AblatedSetSchema.nullable(),
  /** Null when no channel of the layer is eligible for precision. */
  precision: AblatedSetSchema.nullable(),
  /**
   * Every selected channel switched off alone (`set = neuron` rows of `ablation.parquet`): the target's probability
   * after it and its drop, and whether the top-1 changed. Absent in summaries written before it existed.
   */
  neurons: z
    .array(
      z.object({
        channel: z.number().int(),
        probability: z.number(),
        drop: z.number(),
        top1Changed: z.boolean(),
      }),
    )
    .optional(),
  /** Drops of the random k-sets: mean, std, 5th, 50th and 95th percentile; fraction that changed the top-1. */
  random: z.object({
    count: z.number().int(),
    mean: z.number(),
    std: z.number(),
    p5: z.number(),
    p50: z.number(),
    p95: z.number(),
    top1Changed: z.number(),
  }),
});
export type AblationLayer = z.infer<typeof AblationLayerSchema>;
/** A row's set: a layer's selections, a random draw, or one selected channel alone (`neuron`). */
export type AblationSet = 'correlation' | 'precision' | 'random' | 'neuron';

export const AblationSummarySchema = z.object({
  version: z.literal(1),
  /** What an ablated channel becomes: 0, or its mean activation over the copies. */
  mode: z.enum(['zero', 'mean']),
  randomSets: z.number().int(),
  seed: z.number().int(),
  pool: z.enum(['eligible', 'all']),
  k: z.number().int(),
  target: z.number().int(),
  /** Target probability and top-1 of the unablated network (through the edited graph, all masks ones). */
  cleanProbability: z.number(),
  cleanTop1: z.number().int(),
  /** Max |logit difference| between the edited graph with all masks ones and the original model: ~0. */
  baselineMaxAbsLogitDiff: z.number(),
  variants: z.number().int(),
  layers: z.array(AblationLayerSchema),
  totals: z.object({
    layers: z.number().int(),
    /** Layers whose selected set's drop is above the random 95th percentile. */
    correlationAboveP95: z.number().int(),
    precisionAboveP95: z.number().int(),
    meanPercentileCorrelation: z.number().nullable(),
    meanPercentilePrecision: z.number().nullable(),
  }),
});
export type AblationSummary = z.infer<typeof AblationSummarySchema>;

/** One layer's top-k by one criterion as `--samples auto` left it: who is surely in, and who is tied. */
const TiedSelectionSchema = z.object({
  /** Members of the top-k significantly better than every non-member. */
  sure: z.array(z.number().int()),
  /**
   * Channels statistically tied with the k-th (its order against them is not settled by these copies): the members
   * that are not sure, then the non-members that some member does not beat significantly. Empty when all are sure.
   */
  ties: z.array(z.number().int()),
});

/** `--samples auto`: where the stopping rule stopped and, per layer, the channels tied with the k-th. */
export const StoppingSummarySchema = z.object({
  /** Copies used. */
  samples: z.number().int(),
  /** Whether the rule was met (false: stopped at the maximum). */
  stable: z.boolean(),
  /** Half-sample agreement of the top-k sets at the last check: counting ties (the lower criterion), and without. */
  agreement: z.number(),
  strictAgreement: z.number(),
  /** Two channels are tied when their scores differ by less than z standard errors of the difference. */
  z: z.number(),
  layers: z.array(z.object({ layer: z.string(), correlation: TiedSelectionSchema, precision: TiedSelectionSchema })),
});
export type StoppingSummary = z.infer<typeof StoppingSummarySchema>;

/** `summary.json`: everything a reader needs to know about one explanation, small enough to read. */
export const SummarySchema = z.object({
  version: z.literal(1),
  tool: z.string(),
  run: RunConfigSchema,
  stats: StatsConfigSchema,
  target: z.object({ index: z.number().int(), label: z.string().nullable(), source: z.enum(['top1', 'user']) }),
  /** Top-5 predictions on the clean image. */
  predictions: z.array(PredictionSchema),
  /** Output y over the copies: clean value, mean, std, min, max. */
  outputOverCopies: z.object({
    clean: z.number(),
    mean: z.number(),
    std: z.number(),
    min: z.number(),
    max: z.number(),
  }),
  /** Fraction of copies whose top-1 equals the target. */
  copiesKeepingTarget: z.number(),
  layers: z.array(LayerSummarySchema),
  total: OverlapSchema.extend({ selectedByCorrelation: z.number().int(), selectedByPrecision: z.number().int() }),
  global: z.object({
    byCorrelation: z.array(
      z.object({ layer: z.string(), layerIndex: z.number().int(), channel: z.number().int(), value: z.number() }),
    ),
    byPrecision: z.array(
      z.object({
        layer: z.string(),
        layerIndex: z.number().int(),
        channel: z.number().int(),
        value: z.number().nullable(),
      }),
    ),
  }),
  /** Definitions used, spelled out so the numbers can be recomputed. */
  definitions: z.record(z.string(), z.string()),
  /** The ablation test, when `neuronscope ablate` (or `explain --ablate`) ran on this run. */
  ablation: AblationSummarySchema.optional(),
  /** What the model's output is and where y comes from, in words (e.g. "the model ends in Softmax: ..."). */
  outputNote: z.string().optional(),
  /** Copies that ran through the network: N, or where `--samples auto` stopped. */
  samplesUsed: z.number().int().optional(),
  /** `--samples auto` only: the stopping rule's outcome and the ties of every layer's top-k. */
  stopping: StoppingSummarySchema.optional(),
});
export type Summary = z.infer<typeof SummarySchema>;

/**
 * `ablation.parquet` (written by `neuronscope ablate`): one row per ablation variant, a set of channels of one
 * layer switched off on the clean image: which set, the target's probability and logit after the ablation and
 * their drops from the unablated network, and the new top-1.
 */
export const ablationSchema = new Schema([
  new Field('layer', new Dictionary(new Utf8(), new Int32()), false),
  new Field('layer_index', new Int32(), false),
  /** `correlation`, `precision` (the selected sets), `random`, or `neuron` (one selected channel alone). */
  new Field('set', new Utf8(), false),
  /** Index of the random draw within the layer; -1 for the selected sets. */
  new Field('draw', new Int32(), false),
  new Field('channels', new List(new Field('item', new Int32(), false)), false),
  /** `zero` or `mean`. */
  new Field('mode', new Utf8(), false),
  new Field('target', new Int32(), false),
  new Field('probability', new Float64(), false),
  /** Target probability of the unablated network minus `probability`: positive when the ablation hurts. */
  new Field('drop', new Float64(), false),
  new Field('logit', new Float32(), false),
  new Field('logit_drop', new Float64(), false),
  new Field('top1', new Int32(), false),
  new Field('top1_changed', new Bool(), false),
]);
