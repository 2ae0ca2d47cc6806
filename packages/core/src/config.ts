import { z } from 'zod';

/** How an image file becomes the model's input tensor. */
export const PreprocessingSchema = z.object({
  /** Name of the preset the values came from (`imagenet`, `inception`, `none`), kept for display. */
  preset: z.enum(['imagenet', 'inception', 'none']),
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
});
export type Preprocessing = z.infer<typeof PreprocessingSchema>;

/** A perturbation family and its settings; the family validates `params` itself. */
export const PerturbationSpecSchema = z.object({
  family: z.string().min(1),
  /** Number of copies N, copy 0 included. */
  samples: z.number().int().min(3),
  seed: z.number().int().min(0).max(0xffffffff),
  params: z.record(z.string(), z.unknown()),
});
export type PerturbationSpec = z.infer<typeof PerturbationSpecSchema>;

/** What the output y of the network is, as a function of the logits. */
export const OutputModeSchema = z.enum(['prob', 'logit', 'logprob']);
export type OutputMode = z.infer<typeof OutputModeSchema>;

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
  model: z.object({ path: z.string(), sha256: z.string(), input: z.string(), output: z.string() }),
  image: z.object({ path: z.string(), sha256: z.string(), width: z.number().int(), height: z.number().int() }),
  labels: z.object({ path: z.string(), sha256: z.string() }).nullable(),
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
});
export type Summary = z.infer<typeof SummarySchema>;
