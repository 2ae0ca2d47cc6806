import { readFile } from 'node:fs/promises';
import { extractParallel, type ParallelExtractResult } from '@neuronscope/activations';
import { type RunConfig, readParquetFile, sha256, UserError } from '@neuronscope/core';
import { loadImage } from '@neuronscope/model';
import { readPerturbationTable } from '@neuronscope/perturb';
import type { Log } from '../log.js';
import { runFile } from './files.js';

/** Settings of the `extract` stage that do not change its results. */
export interface ExtractOptions {
  /** Intra-op threads of each worker's session. */
  threads?: number;
  /** Extraction workers, each with its own session. */
  workers?: number;
  dumpInputs?: boolean;
}

/**
 * The `extract` stage: regenerates every copy from the perturbation table, runs them through the model and writes
 * the output, activation and moments tables. Checks that the model and image are the ones `run.json` names.
 */
export async function runExtractStage(
  dir: string,
  config: RunConfig,
  opts: ExtractOptions,
  log: Log,
): Promise<ParallelExtractResult> {
  // The model was checked when run.json was written: the same bytes (by hash) need no second decode.
  const modelBytes = await readFile(config.model.path).catch(() => {
    throw new UserError(`model file not found: ${config.model.path}`);
  });
  if (sha256(modelBytes) !== config.model.sha256) {
    throw new UserError(`${config.model.path} changed since 'perturb' wrote run.json; run perturb again`);
  }
  const image = await loadImage(config.image.path, config.preprocessing);
  if (image.sha256 !== config.image.sha256) {
    throw new UserError(`${config.image.path} changed since 'perturb' wrote run.json; run perturb again`);
  }
  const copies = readPerturbationTable(await readParquetFile(runFile(dir, 'perturbations')));
  if (copies.length !== config.perturbation.samples) {
    throw new UserError(
      `perturbations.parquet has ${copies.length} copies, run.json says ${config.perturbation.samples}`,
    );
  }
  const bar = log.progress('extract', copies.length);
  try {
    return await extractParallel({
      model: modelBytes,
      workers: opts.workers,
      threads: opts.threads,
      auto: config.perturbation.auto,
      inputName: config.model.input,
      outputName: config.model.output,
      input: image.tensor,
      copies,
      layers: config.layers,
      target: config.target,
      output: config.output,
      batchSize: config.batchSize,
      outDir: dir,
      dumpInputs: opts.dumpInputs ?? false,
      onProgress: (done) => bar.update(done),
    });
  } finally {
    bar.stop();
  }
}
