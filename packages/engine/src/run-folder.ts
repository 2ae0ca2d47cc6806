/**
 * Run folders: an explanation persisted as files (`run.json`, the tables, `summary.json`), each written atomically,
 * and read back with every table checked against `run.json`'s id, so that a stage never mixes tables of two runs
 * (e.g. left by a killed rerun over the same folder).
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CleanOutputs } from '@neuronscope/activations';
import {
  encodeNpy,
  parquetToTable,
  RUN_METADATA_KEY,
  type RunConfig,
  RunConfigSchema,
  type Summary,
  SummarySchema,
  sha256,
  type Table,
  tableToParquet,
  UserError,
  writeFileAtomic,
  writeJsonAtomic,
} from '@neuronscope/core';
import type { ChannelMetrics } from '@neuronscope/metrics';
import { perturbationTable } from '@neuronscope/perturb';
import sharp from 'sharp';
import type { Explanation } from './explainer.js';
import { type ExtractedRun, parseExtracted } from './extraction.js';
import { EXTRACT_FILES, type ExtractFile, type RUN_FILES, runFile } from './files.js';
import type { LoadedInput } from './image-source.js';
import { runId } from './run-config.js';
import { STATS_METADATA_KEY } from './summary.js';

/** Reads a file of a run folder; a missing one is a one-line error saying which stage makes it. */
async function readRunFile(dir: string, name: keyof typeof RUN_FILES, stage: string): Promise<Buffer> {
  try {
    return await readFile(runFile(dir, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(`${runFile(dir, name)} not found: run 'neuronscope ${stage} --out ${dir}' first`);
    }
    throw new UserError(`cannot read ${runFile(dir, name)}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

/** Parses JSON text of a run file with a one-line error. */
function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new UserError(`${path} is not valid JSON`);
  }
}

/** Reads and validates `run.json`; returns it with its id. */
export async function readRunConfig(dir: string): Promise<{ config: RunConfig; id: string }> {
  const path = runFile(dir, 'run');
  const parsed = RunConfigSchema.safeParse(
    parseJson((await readRunFile(dir, 'run', 'perturb')).toString('utf8'), path),
  );
  if (!parsed.success)
    throw new UserError(`${path} is not a valid run configuration: ${parsed.error.issues[0]?.message}`);
  return { config: parsed.data, id: runId(parsed.data) };
}

/** A table of the run folder, checked to carry `id`. */
export async function readRunTable(
  dir: string,
  name: keyof typeof RUN_FILES,
  id: string,
  stage: string,
): Promise<Table> {
  const table = parquetToTable(await readRunFile(dir, name, stage));
  const found = table.schema.metadata.get(RUN_METADATA_KEY);
  if (found !== id) {
    throw new UserError(
      `${runFile(dir, name)} belongs to another run (id ${found?.slice(0, 12) ?? 'none'}, run.json's ${id.slice(0, 12)}): ` +
        `run 'neuronscope ${stage} --out ${dir}' again`,
    );
  }
  return table;
}

/** Reads and validates `summary.json`, checking that it describes the run of `run.json` (by id). */
export async function readSummary(dir: string, id?: string): Promise<Summary> {
  const path = runFile(dir, 'summary');
  const parsed = SummarySchema.safeParse(
    parseJson((await readRunFile(dir, 'summary', 'stats')).toString('utf8'), path),
  );
  if (!parsed.success) throw new UserError(`${path} is not a valid summary: ${parsed.error.issues[0]?.message}`);
  if (id !== undefined && runId(parsed.data.run) !== id) {
    throw new UserError(`${path} describes another run than run.json: run 'neuronscope stats --out ${dir}' again`);
  }
  return parsed.data;
}

/** `neurons.parquet`, checked against the run id and the summary's stats settings. */
export async function readNeurons(dir: string, id: string, summary: Summary): Promise<Table> {
  const neurons = await readRunTable(dir, 'neurons', id, 'stats');
  if (neurons.schema.metadata.get(STATS_METADATA_KEY) !== JSON.stringify(summary.stats)) {
    throw new UserError(
      `${runFile(dir, 'neurons')} was selected with other stats settings than summary.json: run stats again`,
    );
  }
  return neurons;
}

/** The extract stage's tables of a run folder, parsed and checked (`activations` and `unitStats` when present). */
export async function readExtracted(
  dir: string,
  config: RunConfig,
  id: string,
): Promise<{
  metrics: ChannelMetrics;
  outputs: Table;
  clean: CleanOutputs;
  files: Map<ExtractFile, Uint8Array>;
}> {
  const files = new Map<ExtractFile, Uint8Array>();
  for (const name of ['outputs', 'channelStats'] as const) files.set(name, await readRunFile(dir, name, 'extract'));
  const parsed = parseExtracted(id, files, config);
  return { ...parsed, files };
}

/** The file an input given in memory is saved as, beside the run's tables. */
async function saveInput(input: LoadedInput, dir: string): Promise<string> {
  if (input.kind === 'tensor') {
    const { tensor } = input;
    const dims =
      tensor.layout === 'NCHW'
        ? [1, tensor.channels, tensor.height, tensor.width]
        : [1, tensor.height, tensor.width, tensor.channels];
    const path = join(dir, 'image.npy');
    await writeFileAtomic(path, encodeNpy(tensor.data, dims));
    return path;
  }
  const format = (await sharp(input.bytes!).metadata()).format ?? 'bin';
  const path = join(dir, `image.${format === 'jpeg' ? 'jpg' : format}`);
  await writeFileAtomic(path, input.bytes!);
  return path;
}

/**
 * Writes an explanation into `dir` as a run folder: `run.json`, `perturbations.parquet`, the extract stage's
 * tables, `neurons.parquet` and `summary.json` (an image given in memory is saved beside them as `image.*`).
 * Files of the downstream stages (maps, deconv, ablation, report) left by an earlier run are removed. Returns the
 * summary as written (its image path set).
 */
export async function writeRun(explanation: Explanation, dir: string): Promise<Summary> {
  const { input } = explanation;
  let config = explanation.config;
  if (config.image.path === null) {
    if (input.path === null && input.bytes === null && input.kind !== 'tensor')
      throw new Error('writeRun: no image source');
    config = { ...config, image: { ...config.image, path: input.path ?? (await saveInput(input, dir)) } };
  }
  if (runId(config) !== explanation.id) throw new Error('writeRun: the run configuration does not match its id');
  for (const name of ['maps', 'faithfulness', 'deconv', 'ablation', 'report', ...EXTRACT_FILES] as const) {
    if (!explanation.files.has(name as ExtractFile)) await rm(runFile(dir, name), { force: true });
  }
  await writeFileAtomic(
    runFile(dir, 'perturbations'),
    tableToParquet(perturbationTable(config.perturbation, input.tensor)),
  );
  for (const [name, bytes] of explanation.files) await writeFileAtomic(runFile(dir, name), bytes);
  const summary = SummarySchema.parse({ ...explanation.summary, run: config });
  await writeFileAtomic(runFile(dir, 'neurons'), tableToParquet(explanation.neurons));
  await writeJsonAtomic(runFile(dir, 'summary'), summary);
  // Last: a folder whose run.json is new has every table of the new run (each checked by id anyway).
  await writeJsonAtomic(runFile(dir, 'run'), config);
  return summary;
}

/** A run folder read back: its configuration, summary and tables (each checked against the run id). */
export interface RunFolder {
  readonly dir: string;
  readonly id: string;
  readonly config: RunConfig;
  readonly summary: Summary;
  readonly neurons: Table;
  readonly outputs: Table;
  readonly clean: CleanOutputs;
  readonly metrics: ChannelMetrics;
  readonly files: ReadonlyMap<ExtractFile, Uint8Array>;
}

/** Reads a run folder that `writeRun` (or the `explain` command) wrote. */
export async function readRun(dir: string): Promise<RunFolder> {
  const { config, id } = await readRunConfig(dir);
  const summary = await readSummary(dir, id);
  const neurons = await readNeurons(dir, id, summary);
  const extracted = await readExtracted(dir, config, id);
  return { dir, id, config, summary, neurons, ...extracted };
}

/** Hash of a file's bytes, for checks that the model or image did not change since run.json was written. */
export async function fileChanged(path: string, expected: string): Promise<boolean> {
  const bytes = await readFile(path).catch(() => null);
  return bytes === null || sha256(bytes) !== expected;
}

export type { ExtractedRun };
