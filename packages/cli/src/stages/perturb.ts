import { readFile } from 'node:fs/promises';
import { type RunConfig, RunConfigSchema, UserError, writeJsonAtomic, writeParquetFile } from '@neuronscope/core';
import { perturbationTable } from '@neuronscope/perturb';
import { runFile } from './files.js';
import type { PreparedRun } from './prepare.js';

/** The `perturb` stage: writes `run.json` and `perturbations.parquet` (one row per copy; no pixels). */
export async function writePerturbStage(dir: string, run: PreparedRun): Promise<void> {
  const { input, config } = run;
  const table = perturbationTable(config.perturbation, input);
  await writeParquetFile(runFile(dir, 'perturbations'), table);
  await writeJsonAtomic(runFile(dir, 'run'), config);
}

/** Reads and validates `run.json` of a run directory. */
export async function readRunConfig(dir: string): Promise<RunConfig> {
  const path = runFile(dir, 'run');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UserError(`${path} not found: run 'neuronscope perturb --out ${dir}' first`);
  }
  const parsed = RunConfigSchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new UserError(`${path} is not a valid run configuration: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}
