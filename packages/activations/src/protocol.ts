/** Messages between the extraction coordinator and its pool workers (see worker.ts). */
import type { LayerInfo, Layout } from '@neuronscope/core';
import type { ReductionNames } from '@neuronscope/model';
import type { CopyRecord } from '@neuronscope/perturb';
import type { SharedSums } from './merge.js';
import type { SlotLayout } from './slots.js';

/** One extraction, as every worker needs it; sent with each task (cheap: the big parts are shared or on disk). */
export interface JobSpec {
  /** Unique per extraction: a worker keeps its session while the id stays the same. */
  readonly id: string;
  /** The model with in-graph reductions, in shared memory (each worker copies it once for its session). */
  readonly model: Uint8Array;
  readonly names: ReductionNames;
  readonly inputName: string;
  readonly outputName: string;
  readonly layers: readonly LayerInfo[];
  /** The clean preprocessed image; `data` lives in shared memory. */
  readonly input: {
    readonly data: Float32Array;
    readonly layout: Layout;
    readonly channels: number;
    readonly height: number;
    readonly width: number;
  };
  /** Intra-op threads of each worker's session; onnxruntime's default when undefined. */
  readonly threads: number | undefined;
  readonly batchSize: number;
}

/** Creates the worker's session ahead of the batches. */
export interface OpenTask {
  readonly kind: 'open';
  readonly job: JobSpec;
}

/** Runs the clean copy: its logits and its activation of every layer (the shifts). */
export interface CleanTask {
  readonly kind: 'clean';
  readonly job: JobSpec;
}

/** Renders and runs one batch of copies, then merges its partial sums into the shared sums in batch order. */
export interface BatchTask {
  readonly kind: 'batch';
  readonly job: JobSpec;
  /** The batch's place in the run: merged after batch `index - 1`. */
  readonly index: number;
  readonly copies: readonly CopyRecord[];
  /** The copies rendered by the coordinator (with one worker, or to keep them); otherwise the worker renders. */
  readonly inputs: Float32Array | null;
  readonly target: number;
  readonly yShift: number;
  /** Every layer's shift, concatenated, in shared memory. */
  readonly shifts: Float32Array;
  /** The worker's own output buffer for the batch (no rendered inputs in it). */
  readonly layout: SlotLayout;
  readonly sums: SharedSums;
}

/** What a batch task returns: the small per-copy outputs (the per-unit sums went into the shared sums). */
export interface BatchResult {
  /** [batch, numClasses] */
  readonly logits: Float32Array;
  /** Channel means of d, per layer [batch, C] at `layout.maxBatch * layout.channelOffsets[k]`. */
  readonly means: Float32Array;
  /** Milliseconds: rendering, inference, waiting for the turn to merge, merging. */
  readonly render: number;
  readonly inference: number;
  readonly wait: number;
  readonly merge: number;
  /** False when merging was stopped before this batch's turn: it is not part of the sums. */
  readonly merged: boolean;
}

export type WorkerTask = OpenTask | CleanTask | BatchTask;

/** What the clean task returns. */
export interface CleanResult {
  readonly logits: Float32Array;
  /** Every layer's activation of the clean copy, concatenated ([C, H, W] each). */
  readonly activations: Float32Array;
}

/** Starts the message of an Error a worker throws for a user error (errors lose their class between threads). */
export const USER_ERROR_MARK = 'neuronscope user error: ';
