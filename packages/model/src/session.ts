import { UserError } from '@neuronscope/core';
import * as ort from 'onnxruntime-node';

/** Options of {@link createSession}. */
export interface SessionOptions {
  /** Intra-op threads; onnxruntime's default (one per core) when omitted. */
  threads?: number;
  /**
   * Graph optimization level, 'all' by default. onnxruntime never optimizes a graph output away: a
   * Conv+Relu fusion keeps the Relu output's name, and a Conv output that is a graph output blocks
   * the fusion, so recorded tensors survive at every level (tested).
   */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Model path, for error messages only. */
  modelPath?: string;
}

/**
 * An onnxruntime CPU session for model bytes (as read, or from {@link withExtraOutputs}). A model
 * that onnxruntime rejects (unsupported operator, invalid graph) is a {@link UserError}.
 */
export async function createSession(bytes: Uint8Array, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: opts.optimization ?? 'all',
    // Warnings (e.g. about unused initializers) would interleave with the CLI's own output.
    logSeverityLevel: 3,
  };
  if (opts.threads !== undefined) options.intraOpNumThreads = opts.threads;
  try {
    return await ort.InferenceSession.create(bytes, options);
  } catch (err) {
    const firstLine = ((err as Error).message ?? String(err)).split('\n')[0]!.trim();
    throw new UserError(`onnxruntime cannot load model ${opts.modelPath ?? '(in memory)'}: ${firstLine}`);
  }
}
