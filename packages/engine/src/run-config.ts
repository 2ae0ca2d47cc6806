/**
 * `run.json` of one image: which model, image and settings a run is about, and the run's id, a content key: two
 * runs with the same id have the same tables, whatever the paths; every table of a run folder carries it.
 */
import { canonicalJson, type OutputMode, type RunConfig, RunConfigSchema, sha256, UserError } from '@neuronscope/core';
import { currentPerturbation } from '@neuronscope/perturb';
import { LIMITS, type ResolvedAnalysisOptions } from './defaults.js';
import type { LoadedInput } from './image-source.js';
import { type ModelContext, resolveTarget } from './model.js';

/** Bump when the layout or meaning of the tables changes: earlier cache entries and run folders are then not used. */
export const TABLES_FORMAT = 2;

/**
 * The id of a run: hashes of the model and image bytes plus every setting that changes the extraction tables
 * (preprocessing, perturbation with its seed, layers, target, output, batch size). Paths and labels do not count.
 */
export function runId(config: RunConfig): string {
  return sha256(
    canonicalJson({
      format: TABLES_FORMAT,
      model: config.model.sha256,
      image: config.image.sha256,
      preprocessing: config.preprocessing,
      perturbation: config.perturbation,
      layers: config.layers.map((l) => l.layer),
      target: config.target,
      output: config.output,
      outputKind: config.model.outputKind ?? 'logits',
      logits: config.model.output,
      batchSize: config.batchSize,
    }),
  );
}

/** The batch size of a model: as asked, else the default for a dynamic batch; always 1 for a fixed batch. */
export function batchSizeFor(context: ModelContext, asked: number | undefined, fallback: number): number {
  if (!context.model.dynamicBatch) {
    if (asked !== undefined && asked !== 1) {
      throw new UserError(`--batch-size ${asked}: this model takes a fixed batch of ${context.model.batch ?? 1}`);
    }
    return 1;
  }
  return asked ?? fallback;
}

/**
 * Refuses a run whose per-copy rows (every copy's logits and channel means, and its input with `dumpInputs`) would
 * outgrow {@link LIMITS.rowBytes} of memory, before anything runs.
 */
function checkRowBudget(context: ModelContext, samples: number, dumpInputs: boolean): void {
  const channels = context.layers.reduce((s, l) => s + l.channels, 0);
  const [height, width] = context.preprocessing.size;
  const input = (context.preprocessing.grayscale ? 1 : 3) * height * width;
  const perCopy = 4 * (context.classCount + channels + 4) + (dumpInputs ? 4 * input : 0);
  const bytes = samples * perCopy;
  if (bytes > LIMITS.rowBytes) {
    const most = Math.floor(LIMITS.rowBytes / perCopy);
    throw new UserError(
      `--samples ${samples}: the copies' rows would take ${(bytes / 1024 ** 3).toFixed(1)} GiB of memory ` +
        `(${perCopy} bytes each${dumpInputs ? ', with --dump-inputs' : ''}); at most ${most} copies here`,
    );
  }
}

/** The run configuration of one image under the explainer's model and the call's analysis options. */
export function runConfigFor(
  context: ModelContext,
  input: LoadedInput,
  analysis: ResolvedAnalysisOptions,
  run: { output: OutputMode; batchSize: number },
): RunConfig {
  for (const l of context.layers) {
    if (analysis.topK > l.channels) {
      throw new UserError(`--top-k ${analysis.topK} is larger than layer ${l.layer}'s ${l.channels} channels`);
    }
  }
  const auto = analysis.samples === 'auto';
  checkRowBudget(context, auto ? analysis.maxSamples : (analysis.samples as number), analysis.dumpInputs);
  // A new run: the family's current params (the noise generator) unless given; run.json records them.
  const perturbation = currentPerturbation({
    family: analysis.perturb,
    samples: auto ? analysis.maxSamples : (analysis.samples as number),
    seed: analysis.seed,
    params: analysis.params,
  });
  const stopping = { topK: analysis.topK, eligibility: analysis.eligibility, agreement: analysis.stopAgreement };
  const { model, labels } = context;
  return RunConfigSchema.parse({
    version: 1,
    model: {
      path: model.path,
      sha256: model.sha256,
      input: model.inputName,
      output: model.logitsName,
      outputKind: model.outputKind,
    },
    image: { path: input.path, sha256: input.sha256, width: input.width, height: input.height, kind: input.kind },
    labels: labels ? { path: labels.path, sha256: labels.sha256, background: labels.background } : null,
    preprocessing: context.preprocessing,
    perturbation: auto ? { ...perturbation, auto: stopping } : perturbation,
    layers: [...context.layers],
    target: resolveTarget(analysis.target, context),
    output: run.output,
    batchSize: run.batchSize,
  } satisfies RunConfig);
}
