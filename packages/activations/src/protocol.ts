/** Messages between the extraction pool's coordinator and its workers (see worker.ts). */
import type { InputTensor, LayerInfo, Layout, OutputKind, OutputMode } from '@neuronscope/core';
import type { DeconvMode, NeuronRef, ReductionNames, UnpoolMode } from '@neuronscope/model';
import type { CopyRecord } from '@neuronscope/perturb';
import type { MapGrid } from './map-accumulator.js';
import type { SharedSums } from './merge.js';
import type { SlotLayout } from './slots.js';

/** The model as every worker needs it, fixed for the pool's lifetime; sent with each task (its big parts are shared). */
export interface ModelSpec {
  /** Unique per pool: a worker keeps its sessions while the id stays the same. */
  readonly id: string;
  /** The model with in-graph reductions, in shared memory (each worker copies it once for its session). */
  readonly reducing: Uint8Array;
  readonly names: ReductionNames;
  /** The model as loaded, in shared memory: the base of the heat-map sessions. */
  readonly plain: Uint8Array;
  /** The model's own bytes (a view of `reducing`'s first bytes): what the deconvnets are generated from. */
  readonly source: Uint8Array;
  readonly inputName: string;
  /** The logits (the tensor y is computed from) and what the model's own output is. */
  readonly outputName: string;
  readonly outputKind: OutputKind;
  readonly layers: readonly LayerInfo[];
  readonly output: OutputMode;
  /** Geometry of one input copy. */
  readonly input: {
    readonly layout: Layout;
    readonly channels: number;
    readonly height: number;
    readonly width: number;
  };
  /** Intra-op threads of each worker's sessions. */
  readonly threads: number;
  readonly batchSize: number;
}

/** One image of an extraction: its clean tensor and, once known, every layer's shift (both in shared memory). */
export interface ImageSpec {
  /** Unique per extraction: a worker keeps its private copy of the shifts while the id stays the same. */
  readonly id: string;
  readonly data: Float32Array;
}

/** Creates the worker's reduction session ahead of the batches. */
export interface OpenTask {
  readonly kind: 'open';
  readonly model: ModelSpec;
}

/**
 * Releases the worker's sessions before the pool ends its threads: a session left to the thread's teardown is freed
 * by onnxruntime's native finalizer while the environment goes away, which can abort the process. Each of the pool's
 * W release tasks waits at `barrier` (an Int32Array over shared memory counting arrivals) until all W have started,
 * so that every worker gets one.
 */
export interface ReleaseTask {
  readonly kind: 'release';
  readonly barrier: Int32Array;
  readonly workers: number;
}

/** Runs the clean copy: its logits and its activation of every layer (the shifts). */
export interface CleanTask {
  readonly kind: 'clean';
  readonly model: ModelSpec;
  readonly image: ImageSpec;
}

/** Renders and runs one batch of copies, then merges its partial sums into the shared sums in batch order. */
export interface BatchTask {
  readonly kind: 'batch';
  readonly model: ModelSpec;
  readonly image: ImageSpec;
  /** The batch's place in the extraction: merged after batch `index - 1`. */
  readonly index: number;
  readonly copies: readonly CopyRecord[];
  /** The copies rendered by the coordinator (to keep them); otherwise the worker renders. */
  readonly inputs: Float32Array | null;
  readonly target: number;
  readonly yShift: number;
  /** Every layer's shift, concatenated, in shared memory. */
  readonly shifts: Float32Array;
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

/** What the clean task returns. */
export interface CleanResult {
  readonly logits: Float32Array;
  /** Every layer's activation of the clean copy, concatenated ([C, H, W] each). */
  readonly activations: Float32Array;
}

/** A neuron whose activation (spatial mean of its channel) a heat map follows: the layer's position and a channel. */
export interface MapNeuron {
  readonly layer: number;
  readonly channel: number;
}

/**
 * Renders and runs one batch of masked copies through the model with the spatial means of the `neurons`' layers:
 * per copy, the mask pooled to the map grid and the values of the neurons and of the output y.
 */
export interface MapsTask {
  readonly kind: 'maps';
  readonly model: ModelSpec;
  readonly image: ImageSpec;
  readonly copies: readonly CopyRecord[];
  readonly neurons: readonly MapNeuron[];
  readonly target: number;
  readonly grid: MapGrid;
}

/** What a maps task returns. */
export interface MapsResult {
  /** [batch, cells] pooled masks. */
  readonly pooled: Float64Array;
  /** [batch, neurons + 1] values: the neurons' activations, then y. */
  readonly values: Float64Array;
  readonly render: number;
  readonly inference: number;
}

/** One blended copy (curves.ts): the first `count` cells of ranking `ranking` from source `first`, the rest from `rest`. */
export interface BlendCopy {
  readonly ranking: number;
  readonly count: number;
  readonly first: number;
  readonly rest: number;
}

/** Renders and runs one batch of blended copies (deletion and insertion curves) through the model with its logits. */
export interface BlendTask {
  readonly kind: 'blend';
  readonly model: ModelSpec;
  /** Whole input tensors, in shared memory. */
  readonly sources: readonly Float32Array[];
  /** Per ranking, the rank of every map cell, in shared memory. */
  readonly rankings: readonly Int32Array[];
  readonly grid: MapGrid;
  readonly copies: readonly BlendCopy[];
  readonly target: number;
}

/** What a blend task returns: per copy, the target's softmax probability and the top-1 class. */
export interface BlendResult {
  readonly probability: Float64Array;
  readonly top1: Int32Array;
}

/**
 * Projects neurons of one layer onto the input with the model package's deconvnet (its two sessions created for the
 * task and freed after it): the deconv stage runs its layers on the pool's workers side by side.
 */
export interface DeconvTask {
  readonly kind: 'deconv';
  readonly model: ModelSpec;
  readonly layer: string;
  readonly neurons: readonly NeuronRef[];
  /** The clean input, preprocessed. */
  readonly input: InputTensor;
  readonly mode: DeconvMode;
  readonly unpool: UnpoolMode;
  readonly boxThreshold: number;
}

export type WorkerTask = OpenTask | CleanTask | BatchTask | MapsTask | BlendTask | DeconvTask | ReleaseTask;

/** Starts the message of an Error a worker throws for a user error (errors lose their class between threads). */
export const USER_ERROR_MARK = 'neuronscope user error: ';
