/**
 * Heat maps through the extraction pool: batches of masked copies (the `mask` family's RISE masks) rendered and run
 * by the workers on a session that fetches only the spatial means of the mapped layers; each worker also pools its
 * copies' masks to the map grid. This thread adds the copies to one {@link MapAccumulator} in copy order, so the
 * maps do not depend on the number of workers.
 */
import { randomBytes } from 'node:crypto';
import type { InputTensor } from '@neuronscope/core';
import type { CopyRecord } from '@neuronscope/perturb';
import { MapAccumulator, type MapGrid } from './map-accumulator.js';
import type { ExtractionPool } from './pool.js';
import type { MapNeuron, MapsResult, MapsTask } from './protocol.js';

/** One image's heat maps. */
export interface HeatMapJob {
  /** The clean preprocessed image. */
  readonly input: InputTensor;
  /** The masked copies (records of the `mask` family), in copy order. */
  readonly copies: readonly CopyRecord[];
  /** The neurons to map (their layer's position among the pool's layers, and channel). */
  readonly neurons: readonly MapNeuron[];
  /** The class whose output y is mapped too (the accumulator's last row). */
  readonly target: number;
  readonly grid: MapGrid;
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
}

/** Runs the job's copies on the pool; the accumulator holds one row per neuron, then one for y. */
export async function runHeatMaps(pool: ExtractionPool, job: HeatMapJob): Promise<MapAccumulator> {
  const data = new Float32Array(new SharedArrayBuffer(job.input.data.length * 4));
  data.set(job.input.data);
  const image = { id: randomBytes(8).toString('hex'), data };
  const batchSize = pool.spec.batchSize;
  const batches = Math.ceil(job.copies.length / batchSize);
  const rows = job.neurons.length + 1;
  const accumulator = new MapAccumulator(rows, job.grid);
  const cells = accumulator.cells;
  const submitted = new Map<number, Promise<MapsResult>>();
  let next = 0;
  const submit = () => {
    const index = next++;
    const task: MapsTask = {
      kind: 'maps',
      model: pool.spec,
      image,
      copies: job.copies.slice(index * batchSize, (index + 1) * batchSize),
      neurons: job.neurons,
      target: job.target,
      grid: job.grid,
    };
    submitted.set(index, pool.run<MapsResult>(task));
  };
  try {
    let done = 0;
    for (let index = 0; index < batches; index++) {
      while (next < batches && next - index < 2 * pool.workers) submit();
      const result = await submitted.get(index)!;
      submitted.delete(index);
      job.signal?.throwIfAborted();
      const count = result.values.length / rows;
      for (let b = 0; b < count; b++) {
        accumulator.addPooled(
          result.pooled.subarray(b * cells, (b + 1) * cells),
          result.values.subarray(b * rows, (b + 1) * rows),
        );
      }
      done += count;
      job.onProgress?.(done, job.copies.length);
    }
  } finally {
    await Promise.allSettled(submitted.values());
  }
  return accumulator;
}
