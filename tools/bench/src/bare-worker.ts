/**
 * A piscina worker for the bare-inference baseline: one onnxruntime session of the unmodified model per worker,
 * running pre-rendered batches, nothing else.
 */
import * as ort from 'onnxruntime-node';

export interface BareTask {
  readonly modelPath: string;
  readonly threads: number;
  readonly inputName: string;
  /** One batch of rendered copies, reused for every batch. */
  readonly data: Float32Array;
  readonly dims: readonly number[];
  /** Full batches to run. */
  readonly batches: number;
  /** Copies of one last, smaller batch (0: none). */
  readonly last: number;
}

let session: { key: string; session: ort.InferenceSession } | null = null;

/** Creates the session (kept for later tasks) and, with `batches` > 0, runs them; returns the time it took. */
export default async function bare(task: BareTask): Promise<{ sessionMs: number; runMs: number }> {
  const t0 = performance.now();
  const key = `${task.modelPath}:${task.threads}`;
  if (session?.key !== key) {
    await session?.session.release();
    session = {
      key,
      session: await ort.InferenceSession.create(task.modelPath, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: task.threads,
        logSeverityLevel: 3,
      }),
    };
  }
  const t1 = performance.now();
  const feeds = { [task.inputName]: new ort.Tensor('float32', task.data, [...task.dims]) };
  for (let i = 0; i < task.batches; i++) await session.session.run(feeds);
  if (task.last > 0) {
    const per = task.data.length / task.dims[0]!;
    const data = task.data.subarray(0, task.last * per);
    await session.session.run({
      [task.inputName]: new ort.Tensor('float32', data, [task.last, ...task.dims.slice(1)]),
    });
  }
  return { sessionMs: t1 - t0, runMs: performance.now() - t1 };
}
