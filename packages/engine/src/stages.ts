/**
 * The stages over a run folder, each rerunnable alone (`neuronscope perturb | extract | stats | maps | ablate |
 * report --out DIR`), and `explainToFolder`, all of them in order. Every stage checks that the files it reads belong
 * to the run of `run.json` (and that the model and image are still the ones it names) before it writes anything.
 */
import { readFile, rm } from 'node:fs/promises';
import type { RunConfig, StatsConfig, Summary } from '@neuronscope/core';
import {
  ensureWritableDir,
  SummarySchema,
  sha256,
  tableToParquet,
  UserError,
  writeFileAtomic,
  writeJsonAtomic,
} from '@neuronscope/core';
import { describeOutputKind, loadModel, modelClassCount } from '@neuronscope/model';
import { perturbationTable } from '@neuronscope/perturb';
import { writeProjections } from './deconv.js';
import {
  type AblateOptions,
  AblateOptionsSchema,
  type AnalysisOptions,
  AnalysisOptionsSchema,
  BoxesSchema,
  type BoxKind,
  DEFAULTS,
  type DeconvOptions,
  DeconvOptionsSchema,
  type ExplainerOptions,
  ExplainerOptionsSchema,
  type MapsOptions,
  MapsOptionsSchema,
  parseOptions,
} from './defaults.js';
import { createExplainer, Explainer } from './explainer.js';
import { runFile } from './files.js';
import { type LoadedInput, loadInput } from './image-source.js';
import { writeHeatMaps } from './maps.js';
import { inputDims, type ModelContext, prepareModel, readLabels } from './model.js';
import { writeReport } from './report.js';
import { runId } from './run-config.js';
import { readExtracted, readNeurons, readRunConfig, readSummary, writeRun } from './run-folder.js';
import { runStats } from './summary.js';

/** Where the stages say what they are doing: lines, and progress of the long ones. */
export interface Log {
  info(message: string): void;
  progress(label: string, total: number): { update(done: number): void; stop(): void };
}

/** A log that says nothing. */
export const silentLog: Log = {
  info: () => undefined,
  progress: () => ({ update: () => undefined, stop: () => undefined }),
};

/** Runs `work` with a progress bar of `label` that is stopped whatever happens. */
async function withProgress<T>(
  log: Log,
  label: string,
  work: (update: (done: number, total: number) => void) => Promise<T>,
): Promise<T> {
  let bar: ReturnType<Log['progress']> | null = null;
  try {
    return await work((done, total) => {
      bar ??= log.progress(label, total);
      bar.update(done);
    });
  } finally {
    (bar as ReturnType<Log['progress']> | null)?.stop();
  }
}

/** The runtime settings of the stages that run the network (they do not change the tables). */
export type RuntimeOptions = Pick<ExplainerOptions, 'workers' | 'threads' | 'cache' | 'cacheDir'>;

/** The model side of a run folder: the model and labels `run.json` names, checked to be unchanged. */
async function contextOf(config: RunConfig): Promise<ModelContext> {
  const model = await loadModel(config.model.path);
  if (model.sha256 !== config.model.sha256) {
    throw new UserError(`${config.model.path} changed since run.json was written; run perturb (or explain) again`);
  }
  const classCount = await modelClassCount(model, inputDims(config.preprocessing));
  let labels: ModelContext['labels'] = null;
  if (config.labels) {
    const { path } = config.labels;
    const bytes = await readFile(path).catch(() => {
      throw new UserError(`labels file ${path} is gone`);
    });
    if (sha256(bytes) !== config.labels.sha256) throw new UserError(`${path} changed since run.json was written`);
    const background = config.labels.background ?? false;
    const values = await readLabels(path, model, classCount, background);
    labels = { path, sha256: config.labels.sha256, background, values };
  }
  return {
    model,
    classCount,
    labels,
    preprocessing: config.preprocessing,
    allLayers: config.layers,
    layers: config.layers,
    defaultImage: null,
    outputNote: describeOutputKind(model.outputKind, model.logitsName),
  };
}

/** The image `run.json` names, preprocessed, checked to be unchanged. */
async function inputOf(config: RunConfig): Promise<LoadedInput> {
  if (config.image.path === null) throw new UserError('run.json names no image file');
  const input = await loadInput(config.image.path, config.preprocessing);
  if (input.sha256 !== config.image.sha256) {
    throw new UserError(`${config.image.path} changed since run.json was written; run perturb (or explain) again`);
  }
  return input;
}

/** An explainer for the run of `run.json` (its model, output and batch size), with the given runtime settings. */
async function explainerOf(config: RunConfig, runtime: RuntimeOptions, log: Log): Promise<Explainer> {
  const options = parseOptions(
    ExplainerOptionsSchema,
    { ...runtime, output: config.output, batchSize: config.batchSize },
    'options',
  );
  return new Explainer(await contextOf(config), options, (m) => log.info(m));
}

/** The analysis options that reproduce `run.json`'s perturbation (and the given statistics and keep settings). */
function analysisOf(config: RunConfig, rest: AnalysisOptions = {}) {
  const p = config.perturbation;
  return parseOptions(
    AnalysisOptionsSchema,
    {
      ...rest,
      perturb: p.family,
      samples: p.auto ? 'auto' : p.samples,
      maxSamples: p.samples,
      seed: p.seed,
      params: p.params,
    },
    'options',
  );
}

/** The `perturb` stage: resolves and checks everything, then writes `run.json` and `perturbations.parquet`. */
export async function perturbStage(
  opts: ExplainerOptions & AnalysisOptions & { image?: string; out: string },
): Promise<RunConfig> {
  const explainerOptions = parseOptions(ExplainerOptionsSchema, opts, 'options');
  const analysis = parseOptions(AnalysisOptionsSchema, opts, 'options');
  const context = await prepareModel(explainerOptions);
  const explainer = new Explainer(context, explainerOptions, () => undefined);
  const image = opts.image ?? context.defaultImage;
  if (!image) throw new UserError('--image is required with --model');
  const input = await explainer.load(image);
  const config = explainer.configFor(input, analysis);
  await ensureWritableDir(opts.out);
  await writeFileAtomic(
    runFile(opts.out, 'perturbations'),
    tableToParquet(perturbationTable(config.perturbation, input.tensor)),
  );
  await writeJsonAtomic(runFile(opts.out, 'run'), config);
  return config;
}

/** Settings of the `extract` stage beyond the runtime: what to keep. */
export type ExtractStageOptions = RuntimeOptions &
  Pick<AnalysisOptions, 'keepActivations' | 'keepUnitStats' | 'dumpInputs'>;

/**
 * The `extract` stage: runs the copies of `run.json` (or finds them in the cache) and writes the outputs, channel
 * statistics and what is kept. Checks that `perturbations.parquet` is the one `run.json` gives.
 */
export async function extractStage(
  dir: string,
  opts: ExtractStageOptions,
  log: Log,
): Promise<{ fromCache: boolean; samplesUsed: number }> {
  const { config, id } = await readRunConfig(dir);
  const input = await inputOf(config);
  const expected = tableToParquet(perturbationTable(config.perturbation, input.tensor));
  const found = await readFile(runFile(dir, 'perturbations')).catch(() => null);
  if (!found || sha256(found) !== sha256(expected)) {
    throw new UserError(`${runFile(dir, 'perturbations')} is missing or not the one run.json gives: run perturb again`);
  }
  const explainer = await explainerOf(config, opts, log);
  try {
    const analysis = analysisOf(config, {
      keepActivations: opts.keepActivations,
      keepUnitStats: opts.keepUnitStats,
      dumpInputs: opts.dumpInputs,
    });
    const explanation = await withProgress(log, 'extract', (update) =>
      explainer.explainConfig(config, input, analysis, { onProgress: (_s, d, t) => update(d, t) }),
    );
    if (explanation.id !== id) throw new Error('extract: the run id changed');
    for (const [name, bytes] of explanation.files) await writeFileAtomic(runFile(dir, name), bytes);
    return { fromCache: explanation.fromCache, samplesUsed: explanation.summary.samplesUsed ?? 0 };
  } finally {
    await explainer.close();
  }
}

/** The `stats` stage: selections and summary from the extract stage's tables (no inference). */
export async function statsStage(dir: string, stats: StatsConfig): Promise<Summary> {
  const { config, id } = await readRunConfig(dir);
  const { metrics, outputs, clean } = await readExtracted(dir, config, id);
  const labels = config.labels ? ((await contextOf(config)).labels?.values ?? null) : null;
  const { summary, neurons } = runStats(id, config, metrics, outputs, clean, stats, labels);
  await writeFileAtomic(runFile(dir, 'neurons'), tableToParquet(neurons));
  await writeJsonAtomic(runFile(dir, 'summary'), summary);
  return summary;
}

/** The `maps` stage: heat maps of the selected neurons from masked copies; writes `maps.parquet`. */
export async function mapsStage(
  dir: string,
  opts: MapsOptions & RuntimeOptions,
  log: Log,
): Promise<{ maps: number; fromCache: boolean; seconds: number }> {
  const maps = parseOptions(MapsOptionsSchema, opts, 'maps options');
  if (maps.masks === 0) throw new UserError('--masks must be at least 16');
  const { config, id } = await readRunConfig(dir);
  const summary = await readSummary(dir, id);
  const input = await inputOf(config);
  const explainer = await explainerOf(config, opts, log);
  try {
    const result = await withProgress(log, 'maps', (update) =>
      explainer.heatMaps({ id, config, summary, input }, maps, { onProgress: update }),
    );
    await writeHeatMaps(dir, result);
    return { maps: result.rows.length, fromCache: result.fromCache, seconds: result.seconds };
  } finally {
    await explainer.close();
  }
}

/**
 * The `deconv` stage: the deconvnet projection of every selected neuron and its box; writes `deconv.parquet`. A
 * layer the deconvnet cannot invert is skipped with a warning; when no layer can be, it is a one-line error and
 * nothing is written.
 */
export async function deconvStage(
  dir: string,
  opts: DeconvOptions & RuntimeOptions,
  log: Log,
): Promise<{ projections: number; skipped: number; fromCache: boolean; seconds: number }> {
  const { mode, unpool, boxThreshold, ...runtime } = opts;
  const deconv = parseOptions(DeconvOptionsSchema, { mode, unpool, boxThreshold }, 'deconv options');
  const { config, id } = await readRunConfig(dir);
  const summary = await readSummary(dir, id);
  const { metrics } = await readExtracted(dir, config, id);
  const input = await inputOf(config);
  const explainer = await explainerOf(config, runtime, log);
  try {
    const result = await explainer.deconv({ id, config, summary, metrics, input }, deconv);
    const { skipped } = result.meta;
    if (result.rows.length === 0 && skipped.length > 0) {
      throw new UserError(`no layer can be projected by the deconvnet: ${skipped[0]!.reason}`);
    }
    await writeProjections(dir, result);
    const counts = { projections: result.rows.length, skipped: skipped.length };
    return { ...counts, fromCache: result.fromCache, seconds: result.seconds };
  } finally {
    await explainer.close();
  }
}

/** The `ablate` stage: the ablation test; writes `ablation.parquet` and the summary's `ablation` section. */
export async function ablateStage(
  dir: string,
  opts: AblateOptions & Pick<RuntimeOptions, 'threads'>,
  log: Log,
): Promise<Summary> {
  const ablate = parseOptions(AblateOptionsSchema, opts, 'ablate options');
  const { config, id } = await readRunConfig(dir);
  const summary = await readSummary(dir, id);
  const neurons = await readNeurons(dir, id, summary);
  const { clean } = await readExtracted(dir, config, id);
  const input = await inputOf(config);
  const explainer = new Explainer(
    await contextOf(config),
    parseOptions(
      ExplainerOptionsSchema,
      { threads: opts.threads, output: config.output, batchSize: config.batchSize },
      'options',
    ),
    (m) => log.info(m),
  );
  const result = await withProgress(log, 'ablate', (update) =>
    explainer.ablate({ config, summary, neurons, clean, input }, ablate, { onProgress: update }),
  );
  const updated = SummarySchema.parse({ ...summary, ablation: result.summary });
  await writeFileAtomic(runFile(dir, 'ablation'), tableToParquet(result.table));
  await writeJsonAtomic(runFile(dir, 'summary'), updated);
  return updated;
}

/** Everything `neuronscope explain` does, as options. */
export interface ExplainFolderOptions extends ExplainerOptions, AnalysisOptions {
  /** The image; the default model's sample image when absent (only with the default model). */
  image?: string;
  out: string;
  /** The heat-map stage (`masks: 0` skips it). */
  maps?: MapsOptions;
  /** The ablation test, when given. */
  ablate?: AblateOptions;
  /** The deconv stage's settings (run by default); `false` skips it. */
  deconv?: DeconvOptions | false;
  /** The boxes the report's overview draws (`deconv` needs the deconv stage). */
  boxes?: BoxKind;
  /** Also write every figure of the report as SVG and PNG here. */
  figures?: string;
}

/** What `explainToFolder` did. */
export interface ExplainFolderResult {
  summary: Summary;
  reportPath: string;
  fromCache: boolean;
  id: string;
}

/**
 * `neuronscope explain`: perturb, extract (or the cache), stats, [ablate], [maps] and report into `opts.out`, on one
 * explainer. Every option is checked before anything is written.
 */
export async function explainToFolder(opts: ExplainFolderOptions, log: Log = silentLog): Promise<ExplainFolderResult> {
  const { image, out, maps, ablate, figures, deconv, boxes, ...rest } = opts;
  const analysis = parseOptions(AnalysisOptionsSchema, rest, 'options');
  const mapsOptions = parseOptions(MapsOptionsSchema, maps ?? { masks: 0 }, 'maps options');
  const ablateOptions = ablate ? parseOptions(AblateOptionsSchema, ablate, 'ablate options') : null;
  const deconvOptions = deconv === false ? null : parseOptions(DeconvOptionsSchema, deconv ?? {}, 'deconv options');
  const boxKind = parseOptions(BoxesSchema, boxes ?? DEFAULTS.boxes, 'boxes');
  if (boxKind === 'deconv' && !deconvOptions)
    throw new UserError('--boxes deconv needs the deconv stage: drop --no-deconv');
  const explainer = await createExplainer(rest, (m) => log.info(m));
  let created: string | undefined;
  let written = false;
  try {
    const source = image ?? explainer.context.defaultImage;
    if (!source) throw new UserError('--image is required with --model');
    const { input, config } = await explainer.prepare(source, analysis);
    created = await ensureWritableDir(out);
    log.info(`model: ${explainer.context.outputNote}`);
    const explanation = await withProgress(log, 'extract', (update) =>
      explainer.explainConfig(config, input, analysis, { onProgress: (_s, d, t) => update(d, t) }),
    );
    if (explanation.timings) {
      const seconds = (explanation.timings.total / 1000).toFixed(1);
      log.info(
        `extract: ${explanation.summary.samplesUsed} copies through the model in ${seconds} s${autoNote(explanation.stopping)}`,
      );
    }
    written = true;
    const summary = await writeRun(explanation, out);
    const run = { ...explanation, summary, config: summary.run };
    const final = ablateOptions ? await ablateInto(explainer, run, ablateOptions, out, log) : summary;
    if (deconvOptions) await writeProjections(out, await explainer.deconv(run, deconvOptions));
    if (mapsOptions.masks > 0) {
      const result = await withProgress(log, 'maps', (update) =>
        explainer.heatMaps(run, mapsOptions, { onProgress: update }),
      );
      await writeHeatMaps(out, result);
    }
    const report = await writeReport(out, {
      boxes: boxKind,
      ...(figures ? { figures } : {}),
      ...(explanation.activations ? { activations: explanation.activations } : {}),
    });
    if (figures) log.info(`report: ${report.figures} figures (SVG and PNG) in ${figures}`);
    return { summary: final, reportPath: report.path, fromCache: explanation.fromCache, id: runId(final.run) };
  } catch (err) {
    // A run that failed before writing anything leaves no folder behind (the one it made for its output).
    if (created && !written) await rm(created, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  } finally {
    await explainer.close();
  }
}

/** The ablation test of an explained run, written into its folder; returns the summary with its section. */
async function ablateInto(
  explainer: Explainer,
  run: Parameters<Explainer['ablate']>[0],
  options: ReturnType<typeof AblateOptionsSchema.parse>,
  out: string,
  log: Log,
): Promise<Summary> {
  const result = await withProgress(log, 'ablate', (update) => explainer.ablate(run, options, { onProgress: update }));
  const summary = SummarySchema.parse({ ...run.summary, ablation: result.summary });
  await writeFileAtomic(runFile(out, 'ablation'), tableToParquet(result.table));
  await writeJsonAtomic(runFile(out, 'summary'), summary);
  return summary;
}

/** ` (--samples auto: ...)`, what the stopping rule decided; empty for a fixed N. */
function autoNote(
  stopping: { checks: readonly { agreement: number; samples: number }[]; stable: boolean } | null,
): string {
  const last = stopping?.checks.at(-1);
  if (!stopping || !last) return '';
  return stopping.stable
    ? ` (--samples auto: stable after ${last.samples}, half-sample agreement ${last.agreement.toFixed(2)})`
    : ` (--samples auto: not stable at the maximum, agreement ${last.agreement.toFixed(2)})`;
}
