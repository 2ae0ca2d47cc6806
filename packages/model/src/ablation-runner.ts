/**
 * Runs many channel ablations of one image through one session: the model edited by {@link withChannelMasks}
 * with a mask on every layer of interest, one batch row per ablation variant (all masks ones except the
 * variant's own layer, which has zeros at the ablated channels).
 */
import { type InputTensor, tensorDims, UserError } from '@neuronscope/core';
import * as ort from 'onnxruntime-node';
import { type MaskedModel, type MaskTarget, withChannelMasks } from './ablation.js';
import { withExtraOutputs } from './extra-outputs.js';
import { createSession } from './session.js';

/** One ablation: switch off `channels` of target `target` (an index into the runner's targets); none when null. */
export interface AblationVariant {
  readonly target: number | null;
  readonly channels: readonly number[];
}

/** Options of {@link AblationRunner.create}. */
export interface AblationRunnerOptions {
  /**
   * The model's input, and the tensor to return per variant: a graph output, or an inner tensor such as
   * `LoadedModel.logitsName` (it is then added as a graph output of the sessions).
   */
  readonly inputName: string;
  readonly outputName: string;
  /** Mean ablation: ablated channels take fill values (see {@link AblationRunner.setFill}) instead of 0. */
  readonly fill?: boolean;
  /** The model's fixed batch size, or null for a dynamic batch axis. */
  readonly fixedBatch?: number | null;
  readonly threads?: number;
  readonly modelPath?: string;
  /**
   * `per-layer` (default): one session per target, with a mask on that layer only, opened and released in turn.
   * `shared`: one session with a mask on every target. Both give the same numbers; per-layer is faster, since a
   * mask between two layers stops onnxruntime's layout optimizations there (measured in docs/reproduction.md).
   */
  readonly sessions?: 'per-layer' | 'shared';
}

/** Ablates channels of several layers of one model, many variants per inference call. */
export class AblationRunner {
  private readonly fills: (Float32Array | null)[];
  /** Per target: the model's output with every mask ones (the unablated network through the edited graph). */
  readonly baselines: (Float32Array | null)[];

  private constructor(
    private readonly bytes: Uint8Array,
    readonly targets: readonly MaskTarget[],
    private readonly opts: AblationRunnerOptions,
  ) {
    this.fills = targets.map(() => (opts.fill ? new Float32Array(0) : null));
    this.baselines = targets.map(() => null);
    if (opts.fixedBatch && opts.fixedBatch !== 1) {
      throw new UserError(`models with a fixed batch of ${opts.fixedBatch} are not supported (1 or dynamic)`);
    }
  }

  /** Checks the targets against the ORIGINAL model bytes (see {@link withChannelMasks}); opens no session yet. */
  static async create(
    bytes: Uint8Array,
    targets: readonly MaskTarget[],
    opts: AblationRunnerOptions,
  ): Promise<AblationRunner> {
    withChannelMasks(bytes, targets, { fill: opts.fill ?? false }); // validates every target once
    const runner = new AblationRunner(bytes, targets, opts);
    targets.forEach((t, i) => {
      if (runner.fills[i] !== null) runner.fills[i] = new Float32Array(t.channels);
    });
    return runner;
  }

  /** The values that the ablated channels of target `target` take in mean mode, one per channel. */
  setFill(target: number, values: ArrayLike<number>): void {
    const fill = this.fills[target];
    if (fill === undefined) throw new Error(`no target ${target}`);
    if (fill === null) throw new Error('setFill needs a runner created with fill: true');
    if (values.length !== fill.length) {
      throw new Error(`target ${target}: ${values.length} fill values for ${fill.length} channels`);
    }
    fill.set(Array.from(values));
  }

  private async open(targets: readonly number[]): Promise<{ model: MaskedModel; session: ort.InferenceSession }> {
    const model = withChannelMasks(
      this.bytes,
      targets.map((t) => this.targets[t]!),
      { fill: this.opts.fill ?? false, batch: this.opts.fixedBatch ?? null },
    );
    // The masked model is plain protobuf: the output tensor (the logits before a final Softmax) is appended.
    const session = await createSession(withExtraOutputs(model.bytes, [this.opts.outputName]), {
      ...(this.opts.threads === undefined ? {} : { threads: this.opts.threads }),
      ...(this.opts.modelPath === undefined ? {} : { modelPath: this.opts.modelPath }),
    });
    return { model, session };
  }

  /**
   * The model's output (e.g. logits) for `input` under every variant, in order: one Float32Array per variant.
   * `batchSize` variants go through the network per call (1 for a model with a fixed batch of 1). A variant
   * without target is the unablated network. Also fills {@link AblationRunner.baselines}.
   */
  async run(
    input: InputTensor,
    variants: readonly AblationVariant[],
    batchSize: number,
    onProgress?: (done: number, total: number) => void,
  ): Promise<Float32Array[]> {
    for (const v of variants) {
      if (v.target === null) continue;
      const t = this.targets[v.target];
      if (!t) throw new Error(`variant names target ${v.target}; the runner has ${this.targets.length}`);
      for (const c of v.channels) {
        if (!Number.isInteger(c) || c < 0 || c >= t.channels) {
          throw new UserError(`channel ${c} is not a channel of layer '${t.tensor}' (${t.channels} channels)`);
        }
      }
    }
    const batchMax = this.opts.fixedBatch ? 1 : Math.max(1, batchSize);
    const results: (Float32Array | null)[] = variants.map(() => null);
    const groups = this.opts.sessions === 'shared' ? [this.targets.map((_, i) => i)] : this.targets.map((_, i) => [i]);
    let done = 0;
    for (const group of groups) {
      // Each session also runs one all-ones row: its baseline, and the answer for target-less variants.
      const rows: { variant: number; target: number | null; channels: readonly number[] }[] = [
        { variant: -1, target: null, channels: [] },
      ];
      variants.forEach((v, i) => {
        if (v.target !== null && group.includes(v.target)) rows.push({ variant: i, ...v });
      });
      if (rows.length === 1 && group !== groups[0]) continue;
      const { model, session } = await this.open(group);
      try {
        const outputs = await this.runRows(session, model, group, input, rows, batchMax);
        for (const t of group) this.baselines[t] = outputs[0]!;
        rows.forEach((r, k) => {
          if (r.variant >= 0) results[r.variant] = outputs[k]!;
        });
        done += rows.length - 1;
        if (group === groups[0]) {
          variants.forEach((v, i) => {
            if (v.target === null) {
              results[i] = outputs[0]!;
              done++;
            }
          });
        }
        onProgress?.(done, variants.length);
      } finally {
        await session.release();
      }
    }
    return results.map((r) => r!);
  }

  private async runRows(
    session: ort.InferenceSession,
    model: MaskedModel,
    group: readonly number[],
    input: InputTensor,
    rows: readonly { target: number | null; channels: readonly number[] }[],
    batchMax: number,
  ): Promise<Float32Array[]> {
    const size = input.data.length;
    const images = new Float32Array(batchMax * size);
    for (let b = 0; b < batchMax; b++) images.set(input.data, b * size);
    const maskData = model.masks.map((m) => new Float32Array(batchMax * m.channels));
    const fillFeeds: Record<string, ort.Tensor> = {};
    model.masks.forEach((m, i) => {
      const fill = this.fills[group[i]!];
      if (m.fillInput !== null && fill) fillFeeds[m.fillInput] = new ort.Tensor('float32', fill, [1, m.channels, 1, 1]);
    });
    const outputs: Float32Array[] = [];
    for (let start = 0; start < rows.length; start += batchMax) {
      const batch = Math.min(batchMax, rows.length - start);
      const feeds: Record<string, ort.Tensor> = {
        [this.opts.inputName]: new ort.Tensor('float32', images.subarray(0, batch * size), tensorDims(input, batch)),
        ...fillFeeds,
      };
      model.masks.forEach((m, i) => {
        const data = maskData[i]!.subarray(0, batch * m.channels);
        data.fill(1);
        for (let b = 0; b < batch; b++) {
          const row = rows[start + b]!;
          if (row.target !== group[i]) continue;
          for (const c of row.channels) data[b * m.channels + c] = 0;
        }
        feeds[m.maskInput] = new ort.Tensor('float32', data, [batch, m.channels, 1, 1]);
      });
      const out = await session.run(feeds, [this.opts.outputName]);
      const logits = out[this.opts.outputName];
      if (!logits || !(logits.data instanceof Float32Array)) {
        throw new Error(`the model did not return float32 '${this.opts.outputName}'`);
      }
      const per = logits.data.length / batch;
      for (let b = 0; b < batch; b++) outputs.push(logits.data.slice(b * per, (b + 1) * per));
    }
    return outputs;
  }

  /** Nothing to release: sessions are opened and released within {@link AblationRunner.run}. */
  async release(): Promise<void> {}
}
