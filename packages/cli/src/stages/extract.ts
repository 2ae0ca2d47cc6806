import { availableParallelism } from 'node:os';
import { type ExtractResult, extract } from '@neuronscope/activations';
import { type RunConfig, readParquetFile, UserError } from '@neuronscope/core';
import { createSession, loadImage, loadModel, withExtraOutputs } from '@neuronscope/model';
import { readPerturbationTable } from '@neuronscope/perturb';
import type { Log } from '../log.js';
import { runFile } from './files.js';

/** Settings of the `extract` stage that do not change its results. */
export interface ExtractOptions {
  threads?: number;
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
): Promise<ExtractResult> {
  const model = await loadModel(config.model.path);
  if (model.sha256 !== config.model.sha256) {
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
  const session = await createSession(
    withExtraOutputs(
      model.bytes,
      config.layers.map((l) => l.layer),
    ),
    { threads: opts.threads ?? availableParallelism() },
  );
  const bar = log.progress('extract', copies.length);
  try {
    return await extract({
      session,
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
    await session.release();
  }
}
