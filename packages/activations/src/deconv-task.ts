/**
 * The deconv task of a worker: the model package's deconvnet of one layer, created for the task and freed after it
 * (one layer's sessions alive per worker, as on the main thread before), so that the deconv stage's layers run on
 * the pool's workers side by side instead of one after another on the main thread.
 */
import { createDeconvOrSkip, type LayerProjections, type LoadedModel, parseModel } from '@neuronscope/model';
import type { DeconvTask } from './protocol.js';

/** The pool's model parsed once per worker (by pool id), for the deconvnets generated from its graph. */
let parsed: { id: string; model: LoadedModel } | null = null;

function modelOf(task: DeconvTask): LoadedModel {
  if (parsed?.id !== task.model.id) {
    // onnxruntime takes no shared memory: a private copy of the model's bytes.
    parsed = { id: task.model.id, model: parseModel(new Uint8Array(task.model.source), '(the pool model)') };
  }
  return parsed.model;
}

/** Projects the task's neurons; a layer whose path has no backward rule comes back as skipped, with the reason. */
export async function deconvTask(task: DeconvTask): Promise<LayerProjections> {
  const deconv = await createDeconvOrSkip(modelOf(task), {
    layer: task.layer,
    mode: task.mode,
    unpool: task.unpool,
    input: task.input,
    boxThreshold: task.boxThreshold,
    threads: task.model.threads,
  });
  if ('skipped' in deconv) return deconv;
  try {
    return { projections: await deconv.project(task.input, task.neurons, 'peak') };
  } finally {
    await deconv.release();
  }
}
