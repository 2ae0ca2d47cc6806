/**
 * Every option of an analysis and its default, in one place: the CLI flags show and use these defaults, sweep
 * configurations are resolved through these schemas, and the API parses its options with them. A default changes
 * here or nowhere.
 */
import { availableParallelism } from 'node:os';
import { OutputModeSchema, UserError } from '@neuronscope/core';
import { DEFAULT_BOX_THRESHOLD } from '@neuronscope/model';
import { MAX_SAMPLES } from '@neuronscope/perturb';
import { BOX_KINDS, type BoxKind } from '@neuronscope/report';
import { z } from 'zod';

/** The defaults, as plain values (for `--help` texts and documentation). */
export const DEFAULTS = {
  perturb: 'paper',
  samples: 50,
  /** With `samples: 'auto'`: the most copies that may run. */
  maxSamples: 1000,
  /** With `samples: 'auto'`: the agreement the top-k sets must reach. */
  stopAgreement: 0.9,
  seed: 0,
  output: 'prob',
  topK: 5,
  eligibility: 0.1,
  /** Copies per inference call for a model with a dynamic batch (a fixed batch of 1 runs one at a time). */
  batchSize: 8,
  masks: 1000,
  maskGrid: 7,
  maskKeep: 0.5,
  maskBaseline: 'zero',
  mapSize: 56,
  ablateMode: 'zero',
  ablateRandom: 100,
  ablatePool: 'eligible',
  ablateBatchSize: 16,
  deconvMode: 'deconvnet',
  deconvUnpool: 'nearest',
  /** A deconvnet box holds the pixels at least this fraction of the projection's strongest (|.| over channels). */
  boxThreshold: DEFAULT_BOX_THRESHOLD,
  /** The boxes the report's overview draws. */
  boxes: 'receptive-field',
} as const;

/** Limits checked before anything runs: beyond them a run exhausts memory or time without telling. */
export const LIMITS = {
  samples: MAX_SAMPLES,
  masks: 100_000,
  batchSize: 1024,
  /** Pool workers: each holds a session (the model's weights and buffers). */
  workers: Math.min(64, 4 * availableParallelism()),
  /** Threads per session: more than the cores only adds contention. */
  threads: availableParallelism(),
  /** Bytes of per-copy rows one extraction may hold in memory (logits, channel means, kept inputs). */
  rowBytes: 2 * 1024 ** 3,
} as const;

/** The model side: which model, its labels, preprocessing and recorded layers (all optional: the default model). */
export const ModelOptionsSchema = z.object({
  /** ONNX file; the embedded default model when absent. */
  model: z.string().optional(),
  labels: z.string().optional(),
  preprocess: z.enum(['imagenet', 'inception', 'caffe', 'none']).optional(),
  size: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
  mean: z.array(z.number()).min(1).optional(),
  std: z.array(z.number().positive()).min(1).optional(),
  layout: z.enum(['NCHW', 'NHWC']).optional(),
  grayscale: z.boolean().optional(),
  /** Colour channel order of the tensor (`BGR` for Caffe-style models); the preset's when absent. */
  channelOrder: z.enum(['RGB', 'BGR']).optional(),
  /** Output 0 is a background class the labels file leaves out: line i names output i + 1. */
  background: z.boolean().optional(),
  /**
   * Names, globs (matching any part of a tensor name or module path), indices or ranges, comma-separated; every
   * recordable layer (Conv outputs after their activation) when absent. Any other 4-D tensor can be named.
   */
  layers: z.string().optional(),
});
export type ModelOptions = z.input<typeof ModelOptionsSchema>;

/** What an explainer holds for its lifetime: the model, the output analysed, its pool and its cache. */
export const ExplainerOptionsSchema = ModelOptionsSchema.extend({
  output: OutputModeSchema.default(DEFAULTS.output),
  /** Copies per inference call (default {@link DEFAULTS.batchSize}, or 1 for a model with a fixed batch). */
  batchSize: z.number().int().positive().max(LIMITS.batchSize).optional(),
  /** Pool workers, each with its own sessions (default: one single-threaded worker per core, at most 4). */
  workers: z.number().int().positive().max(LIMITS.workers).optional(),
  /** Intra-op threads of each worker's sessions (at most the cores). */
  threads: z.number().int().positive().max(LIMITS.threads).optional(),
  /** Reuse and fill the cache of extractions and heat maps. */
  cache: z.boolean().default(true),
  /** The cache's folder (default `$NEURONSCOPE_CACHE_DIR`, else `$XDG_CACHE_HOME/neuronscope`, else `~/.cache/neuronscope`). */
  cacheDir: z.string().optional(),
});
export type ExplainerOptions = z.input<typeof ExplainerOptionsSchema>;
export type ResolvedExplainerOptions = z.output<typeof ExplainerOptionsSchema>;

/** One image's analysis: the perturbations, the target, the statistics, and what to keep. */
export const AnalysisOptionsSchema = z.object({
  perturb: z.string().min(1).default(DEFAULTS.perturb),
  /** Copies N, the clean copy included, or `auto`: copies until the top-k sets are stable. */
  samples: z.union([z.number().int().min(3).max(LIMITS.samples), z.literal('auto')]).default(DEFAULTS.samples),
  maxSamples: z.number().int().min(3).max(LIMITS.samples).default(DEFAULTS.maxSamples),
  stopAgreement: z.number().min(0).max(1).default(DEFAULTS.stopAgreement),
  seed: z.number().int().min(0).max(0xffffffff).default(DEFAULTS.seed),
  /** Family parameters (e.g. `{ sigma: 0.2 }`). */
  params: z.record(z.string(), z.unknown()).default({}),
  /** Class index or label; the clean image's top-1 when absent. */
  target: z.union([z.string(), z.number().int().min(0)]).optional(),
  topK: z.number().int().min(1).default(DEFAULTS.topK),
  eligibility: z.number().default(DEFAULTS.eligibility),
  /** Keep every copy's channel means (`activations.parquet`, the report's stability chart). */
  keepActivations: z.boolean().default(true),
  /** Keep the per-unit moments (`unit_stats.parquet`: one row per unit, big). */
  keepUnitStats: z.boolean().default(false),
  /** Keep the exact float32 copies fed to the model (`inputs.npy`, N times the input). */
  dumpInputs: z.boolean().default(false),
});
export type AnalysisOptions = z.input<typeof AnalysisOptionsSchema>;
export type ResolvedAnalysisOptions = z.output<typeof AnalysisOptionsSchema>;

/** The heat-map stage: M masked copies (RISE masks) through the pool. */
export const MapsOptionsSchema = z.object({
  /** Masked copies M (0: no heat maps; otherwise at least 16). */
  masks: z
    .number()
    .int()
    .max(LIMITS.masks)
    .refine((m) => m === 0 || m >= 16, 'must be 0 (no heat maps) or at least 16')
    .default(DEFAULTS.masks),
  grid: z.number().int().min(1).default(DEFAULTS.maskGrid),
  keepProb: z.number().gt(0).lt(1).default(DEFAULTS.maskKeep),
  baseline: z.enum(['zero', 'mean', 'blur']).default(DEFAULTS.maskBaseline),
  /** Seed of the masks (default: the run's seed). */
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  /** Cells on the longer side of a map. */
  mapSize: z.number().int().min(1).default(DEFAULTS.mapSize),
});
export type MapsOptions = z.input<typeof MapsOptionsSchema>;
export type ResolvedMapsOptions = z.output<typeof MapsOptionsSchema>;

/** The ablation test: switch off the selected channels, and random sets, on the clean image. */
export const AblateOptionsSchema = z.object({
  mode: z.enum(['zero', 'mean']).default(DEFAULTS.ablateMode),
  /** Random k-sets drawn per layer. */
  random: z.number().int().min(1).default(DEFAULTS.ablateRandom),
  seed: z.number().int().min(0).max(0xffffffff).default(0),
  /** Where random sets come from: eligible channels (as precision's candidates), or all channels. */
  pool: z.enum(['eligible', 'all']).default(DEFAULTS.ablatePool),
  /** Layers to test (a `--layers` spec over the run's layers); all of them when absent. */
  layers: z.string().optional(),
  /** Variants per inference call (1 for a model with a fixed batch). */
  batchSize: z.number().int().positive().max(LIMITS.batchSize).default(DEFAULTS.ablateBatchSize),
});
export type AblateOptions = z.input<typeof AblateOptionsSchema>;
export type ResolvedAblateOptions = z.output<typeof AblateOptionsSchema>;

/** The deconv stage: every selected neuron projected onto the input by a deconvnet, and its box. */
export const DeconvOptionsSchema = z.object({
  /** `deconvnet` (Zeiler & Fergus) or `guided` (guided backpropagation: also masked by the forward ReLUs). */
  mode: z.enum(['deconvnet', 'guided']).default(DEFAULTS.deconvMode),
  /** `nearest` spreads a pooled value over its window; `switches` puts it where the forward maximum was. */
  unpool: z.enum(['nearest', 'switches']).default(DEFAULTS.deconvUnpool),
  /** Fraction of the strongest pixel a pixel needs to be in the box. */
  boxThreshold: z.number().min(0).max(1).default(DEFAULTS.boxThreshold),
});
export type DeconvOptions = z.input<typeof DeconvOptionsSchema>;
export type ResolvedDeconvOptions = z.output<typeof DeconvOptionsSchema>;

/** Which boxes the report's overview draws: the receptive fields' (exact geometry) or the deconvnet's. */
export const BoxesSchema = z.enum(BOX_KINDS).default(DEFAULTS.boxes);
export type { BoxKind };

/** `topK` → `--top-k`: an option as the command line spells it (the API's names are the same words). */
const flag = (path: readonly PropertyKey[]) =>
  `--${path
    .map(String)
    .join('-')
    .replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/**
 * Parses options with a schema; a problem is a one-line `UserError` naming the option as a flag (zod's own
 * messages are multi-line), e.g. `--masks: must be 0 (no heat maps) or at least 16`.
 */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const where = issue.path.length ? flag(issue.path) : what;
  const message = issue.message
    .split('\n')[0]!
    .replace(/^Too big: expected \w+ to (?:be|have) <=\s*(\S+).*$/, 'must be at most $1')
    .replace(/^Too small: expected \w+ to (?:be|have) >=\s*(\S+).*$/, 'must be at least $1');
  throw new UserError(`${where}: ${message}`);
}
