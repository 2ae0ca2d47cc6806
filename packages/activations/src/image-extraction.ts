/**
 * One image through the extraction pool: the clean copy fixes the target and the shifts, then batches of copies go
 * to the workers (two per worker in flight), each merged into the image's shared sums in batch order; this thread
 * keeps the per-copy rows (logits, y, top-1, channel means), the output moments and the channel moments, and runs
 * the stopping rule of `--samples auto`.
 */
import { randomBytes } from 'node:crypto';
import { argmax, type InputTensor, type OutputMoments, outputValue, UserError } from '@neuronscope/core';
import type { LayerMomentsInput } from '@neuronscope/metrics';
import { type CopyRecord, renderCopy } from '@neuronscope/perturb';
import { mergedBatches, type SharedSums, setMergeLimit, stopMerging, type UnitSums } from './merge.js';
import type { ExtractionPool } from './pool.js';
import type { BatchResult, BatchTask, CleanResult, ImageSpec } from './protocol.js';
import { channelMeans } from './recorder.js';
import { type SlotLayout, slotLayout } from './slots.js';
import {
  checkSchedule,
  checkWithTies,
  DEFAULT_STOPPING,
  type FlatLayout,
  type FlatSums,
  type LayerScores,
  type LayerTies,
  layerTies,
  type StoppingCheck,
  type StoppingRule,
  stratifiedOrder,
  topKSetsWithHalves,
} from './stopping.js';

/** `--samples auto`: the settings of the stopping rule (defaults in {@link DEFAULT_STOPPING}). */
export type StoppingSettings = Pick<StoppingRule, 'topK' | 'eligibility'> & Partial<StoppingRule>;

/** One image to extract. */
export interface ExtractJob {
  /** The clean preprocessed image. */
  readonly input: InputTensor;
  /** The copies to run (from the perturbation table), in copy order. */
  readonly copies: readonly CopyRecord[];
  /** Target class, or null for the clean image's top-1. */
  readonly target: number | null;
  /** Stop early when the answer is stable (`--samples auto`); otherwise every copy runs, in copy order. */
  readonly auto?: StoppingSettings;
  /** Also return the rendered copies (`inputs.npy`): N times the input's size, in memory. */
  readonly keepInputs?: boolean;
  /** Stops the extraction: it then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
  /** Called after every check of the stopping rule. */
  readonly onCheck?: (check: StoppingCheck) => void;
}

/** Where the time went (milliseconds; render, inference, merge and wait are summed over the workers). */
export interface ExtractTimings {
  /** The clean copy, the shifts and the sums. */
  readonly setup: number;
  readonly render: number;
  readonly inference: number;
  /** Merging the per-unit partial sums into the shared float64 sums (workers). */
  readonly merge: number;
  /** Workers waiting for their batch's turn to merge. */
  readonly wait: number;
  /** The per-copy rows and channel moments, on this thread. */
  readonly rows: number;
  /** Stopping-rule checks. */
  readonly checks: number;
  readonly total: number;
}

/** The per-copy outputs, in the order the copies ran. */
export interface CopyRows {
  readonly copies: Int32Array;
  /** [rows, numClasses] */
  readonly logits: Float32Array;
  readonly y: Float64Array;
  readonly top1: Int32Array;
  /** [rows, total channels]: each copy's spatial-mean activation of every channel of every layer, layer after layer. */
  readonly channelMeans: Float32Array;
}

/** What one extraction found, in memory. */
export interface Extraction {
  readonly target: number;
  readonly cleanLogits: Float32Array;
  readonly output: OutputMoments;
  readonly rows: CopyRows;
  /** Per layer: the per-unit moments (views of the pool's sums: read them before `release`) and channel moments. */
  readonly layers: readonly LayerMomentsInput[];
  /** The rendered copies in the order they ran, with `keepInputs`. */
  readonly inputs: Float32Array | null;
  /** Copies that ran (all of them unless `auto` stopped early). */
  readonly samplesUsed: number;
  /** `auto` only: every check of the stopping rule, the last one deciding. */
  readonly checks: readonly StoppingCheck[];
  /** `auto` only: whether the rule was met (false: stopped at the maximum). */
  readonly stable: boolean | null;
  /** `auto` only: every layer's top-k with its ties at the last check (null for a fixed N). */
  readonly ties: readonly LayerTies[] | null;
  readonly timings: ExtractTimings;
  /** Hands the per-unit sums back to the pool; `layers[k].unit` must not be read after. */
  release(): void;
}

/** Running totals of one extraction's timings. */
interface Clock {
  render: number;
  inference: number;
  merge: number;
  wait: number;
  rows: number;
  checks: number;
}

/** The image's channel moments and per-copy rows, filled batch by batch on this thread. */
interface Accumulated {
  readonly output: OutputMoments;
  /** auto: the output sums of the first half-sample (even batches). */
  readonly half: { count: number; sumY: number; sumYY: number } | null;
  /**
   * The channel moments: `clean` is the clean copy's channel mean in float64 (a copy's mean is it plus the graph's
   * mean of d); the sums are shifted by it rounded to float32, the shift the table stores.
   */
  readonly channels: {
    clean: Float64Array;
    shift: Float32Array;
    sumA: Float64Array;
    sumAA: Float64Array;
    sumAY: Float64Array;
  };
  readonly rows: CopyRows;
  used: number;
}

/** The run of one {@link ExtractJob} on a pool. */
export class ImageExtraction {
  private readonly started = performance.now();
  private readonly rule: StoppingRule | null;
  private readonly order: readonly CopyRecord[];
  private readonly image: ImageSpec;
  private readonly clock: Clock = { render: 0, inference: 0, merge: 0, wait: 0, rows: 0, checks: 0 };
  /** Every layer's activation of the clean copy, concatenated: the shifts of the per-unit sums. */
  private cleanActivations: Float32Array = new Float32Array(0);

  constructor(
    private readonly pool: ExtractionPool,
    private readonly job: ExtractJob,
  ) {
    this.rule = job.auto ? { ...DEFAULT_STOPPING, ...job.auto } : null;
    this.order = this.rule ? stratifiedOrder(job.copies.length).map((i) => job.copies[i]!) : job.copies;
    const data = new Float32Array(new SharedArrayBuffer(job.input.data.length * 4));
    data.set(job.input.data);
    this.image = { id: randomBytes(8).toString('hex'), data };
  }

  private get batchSize(): number {
    return this.pool.spec.batchSize;
  }

  /** Runs the extraction; see the module comment. */
  async run(): Promise<Extraction> {
    this.job.signal?.throwIfAborted();
    const clean = await this.pool.run<CleanResult>({ kind: 'clean', model: this.pool.spec, image: this.image });
    const cleanLogits = clean.logits;
    this.cleanActivations = clean.activations;
    if (!cleanLogits.every(Number.isFinite)) {
      throw new UserError(
        "the model's output on the clean image is not finite (NaN or Infinity): it cannot be explained",
      );
    }
    const target = this.job.target ?? argmax(cleanLogits);
    if (target >= cleanLogits.length) {
      throw new UserError(`target ${target} is not a class of this model (${cleanLogits.length} classes)`);
    }
    const layout = slotLayout(this.pool.spec.layers, this.batchSize, cleanLogits.length, this.image.data.length);
    const schedule = this.rule ? checkSchedule(this.rule, this.batchSize, this.order.length) : [];
    const sums = this.pool.acquireSums(layout.totalUnits, this.rule !== null, this.batchesAt(schedule[0]));
    let released = false;
    const release = () => {
      if (!released) this.pool.releaseSums(sums);
      released = true;
    };
    try {
      const shifts = new Float32Array(new SharedArrayBuffer(clean.activations.byteLength));
      shifts.set(clean.activations);
      const acc = this.accumulator(cleanLogits, target, layout, clean.activations);
      const setup = performance.now() - this.started;
      const loop = await this.batches({ target, shifts, layout, sums, acc, schedule });
      return this.result({ cleanLogits, target, layout, sums, acc, setup, loop, release });
    } catch (err) {
      stopMerging(sums);
      release();
      throw err;
    }
  }

  /** The batches a check at `copies` copies needs (merging waits there until the check is done). */
  private batchesAt(copies: number | undefined): number {
    return Math.ceil((copies ?? this.order.length) / this.batchSize);
  }

  private accumulator(cleanLogits: Float32Array, target: number, layout: SlotLayout, clean: Float32Array): Accumulated {
    const n = this.order.length;
    const { layers } = this.pool.spec;
    const cleanMeans = new Float64Array(layout.totalChannels);
    layers.forEach((l, k) => {
      const offset = layout.unitOffsets[k]!;
      cleanMeans.set(
        channelMeans(clean.subarray(offset, offset + layout.units[k]!), l.channels, 1),
        layout.channelOffsets[k],
      );
    });
    const total = layout.totalChannels;
    return {
      output: {
        count: 0,
        yShift: outputValue(cleanLogits, target, this.pool.spec.output, this.pool.spec.outputKind),
        sumY: 0,
        sumYY: 0,
        target,
        output: this.pool.spec.output,
      },
      half: this.rule ? { count: 0, sumY: 0, sumYY: 0 } : null,
      channels: {
        clean: cleanMeans,
        shift: Float32Array.from(cleanMeans),
        sumA: new Float64Array(total),
        sumAA: new Float64Array(total),
        sumAY: new Float64Array(total),
      },
      rows: {
        copies: new Int32Array(n),
        logits: new Float32Array(n * cleanLogits.length),
        y: new Float64Array(n),
        top1: new Int32Array(n),
        channelMeans: new Float32Array(n * total),
      },
      used: 0,
    };
  }

  /** Submits the batches, two per worker in flight, and takes their results in order; stops at a stable check. */
  private async batches(ctx: {
    target: number;
    shifts: Float32Array;
    layout: SlotLayout;
    sums: SharedSums;
    acc: Accumulated;
    schedule: readonly number[];
  }): Promise<{
    checks: StoppingCheck[];
    stable: boolean | null;
    ties: LayerTies[] | null;
    inputs: Float32Array | null;
  }> {
    const { job, pool } = this;
    const batches = Math.ceil(this.order.length / this.batchSize);
    const inputs = job.keepInputs ? new Float32Array(this.order.length * this.image.data.length) : null;
    const submitted = new Map<number, Promise<BatchResult>>();
    const auto = this.rule ? new AutoStop(this.rule, pool.spec.layers, ctx.layout, ctx.shifts, ctx.sums) : null;
    const yShift = ctx.acc.output.yShift;
    let next = 0;
    const submit = () => {
      const index = next++;
      const copies = this.order.slice(index * this.batchSize, (index + 1) * this.batchSize);
      // With one worker (or to keep the copies) this thread renders the next batch while the worker runs one.
      const rendered = inputs || pool.workers === 1 ? this.renderHere(copies, inputs, index * this.batchSize) : null;
      const task: BatchTask = {
        kind: 'batch',
        model: pool.spec,
        image: this.image,
        index,
        copies,
        inputs: rendered,
        target: ctx.target,
        yShift,
        shifts: ctx.shifts,
        layout: ctx.layout,
        sums: ctx.sums,
      };
      submitted.set(index, pool.run<BatchResult>(task));
    };
    try {
      for (let index = 0; index < batches; index++) {
        while (next < batches && next - index < 2 * pool.workers) submit();
        const result = await submitted.get(index)!;
        submitted.delete(index);
        job.signal?.throwIfAborted();
        if (!result.merged) throw new Error(`batch ${index} was not merged`);
        this.addBatch(ctx.acc, ctx.layout, index, result);
        job.onProgress?.(ctx.acc.used, this.order.length);
        if (auto && ctx.acc.used === ctx.schedule[auto.checks.length]) {
          const t = performance.now();
          const check = auto.check(index, ctx.acc, this.batchesAt(ctx.schedule[auto.checks.length + 1]));
          this.clock.checks += performance.now() - t;
          job.onCheck?.(check);
          if (check.stable) break;
        }
      }
    } finally {
      // Batches still running after an early stop or an error are not used.
      stopMerging(ctx.sums);
      await Promise.allSettled(submitted.values());
    }
    auto?.restoreIfStopped(ctx.sums);
    return { checks: auto?.checks ?? [], stable: auto ? auto.stable : null, ties: auto?.ties ?? null, inputs };
  }

  /**
   * Renders a batch of copies on this thread and copies it into `kept` (if any) at row `first`. The batch
   * goes to its worker in its own buffer: a view of `kept` would send all of it.
   */
  private renderHere(copies: readonly CopyRecord[], kept: Float32Array | null, first: number): Float32Array {
    const t = performance.now();
    const size = this.image.data.length;
    const input = { ...this.job.input, data: this.image.data };
    const out = new Float32Array(copies.length * size);
    copies.forEach((copy, b) => {
      renderCopy(input, copy, out.subarray(b * size, (b + 1) * size));
    });
    kept?.set(out, first * size);
    this.clock.render += performance.now() - t;
    return out;
  }

  /** Takes one merged batch: the per-copy rows, the output moments and the channel moments, in float64. */
  private addBatch(acc: Accumulated, layout: SlotLayout, index: number, result: BatchResult): void {
    const t0 = performance.now();
    const copies = this.order.slice(index * this.batchSize, (index + 1) * this.batchSize);
    const batch = copies.length;
    const c = this.clock;
    c.render += result.render;
    c.inference += result.inference;
    c.merge += result.merge;
    c.wait += result.wait;
    const { output, rows, channels } = acc;
    const numClasses = layout.numClasses;
    const total = layout.totalChannels;
    const even = acc.half !== null && index % 2 === 0;
    for (let b = 0; b < batch; b++) {
      const row = acc.used + b;
      const logits = result.logits.subarray(b * numClasses, (b + 1) * numClasses);
      rows.copies[row] = copies[b]!.copy;
      rows.logits.set(logits, row * numClasses);
      const y = outputValue(logits, output.target, output.output, this.pool.spec.outputKind);
      if (!Number.isFinite(y)) {
        throw new UserError(
          `copy ${copies[b]!.copy}: the model's output is not finite (NaN or Infinity); is the perturbation too strong for this model?`,
        );
      }
      rows.y[row] = y;
      rows.top1[row] = argmax(logits);
      const e = y - output.yShift;
      output.sumY += e;
      output.sumYY += e * e;
      if (even) {
        acc.half!.sumY += e;
        acc.half!.sumYY += e * e;
      }
      // Channel means: the clean channel mean plus the graph's mean of d, in float64.
      layout.channels.forEach((count, k) => {
        const d = result.means.subarray(layout.maxBatch * layout.channelOffsets[k]!);
        const offset = layout.channelOffsets[k]!;
        for (let ch = 0; ch < count; ch++) {
          const value = channels.clean[offset + ch]! + d[b * count + ch]!;
          rows.channelMeans[row * total + offset + ch] = value;
          const dev = value - channels.shift[offset + ch]!;
          channels.sumA[offset + ch]! += dev;
          channels.sumAA[offset + ch]! += dev * dev;
          channels.sumAY[offset + ch]! += dev * e;
        }
      });
    }
    output.count += batch;
    if (even) acc.half!.count += batch;
    acc.used += batch;
    c.rows += performance.now() - t0;
  }

  private result(ctx: {
    cleanLogits: Float32Array;
    target: number;
    layout: SlotLayout;
    sums: SharedSums;
    acc: Accumulated;
    setup: number;
    loop: { checks: StoppingCheck[]; stable: boolean | null; ties: LayerTies[] | null; inputs: Float32Array | null };
    release: () => void;
  }): Extraction {
    const { acc, layout, sums, loop } = ctx;
    const used = acc.used;
    const size = this.image.data.length;
    const numClasses = layout.numClasses;
    const total = layout.totalChannels;
    const layers = this.pool.spec.layers.map((l, k): LayerMomentsInput => {
      const offset = layout.unitOffsets[k]!;
      const end = offset + layout.units[k]!;
      const channelOffset = layout.channelOffsets[k]!;
      const channelEnd = channelOffset + l.channels;
      return {
        layer: l.layer,
        layerIndex: l.layerIndex,
        channels: l.channels,
        units: l.height * l.width,
        unit: {
          shift: this.cleanActivations.subarray(offset, end),
          sumA: sums.sumA.subarray(offset, end),
          sumAA: sums.sumAA.subarray(offset, end),
          sumAY: sums.sumAY.subarray(offset, end),
        },
        channel: {
          shift: acc.channels.shift.subarray(channelOffset, channelEnd),
          sumA: acc.channels.sumA.subarray(channelOffset, channelEnd),
          sumAA: acc.channels.sumAA.subarray(channelOffset, channelEnd),
          sumAY: acc.channels.sumAY.subarray(channelOffset, channelEnd),
        },
      };
    });
    const r = acc.rows;
    const c = this.clock;
    return {
      target: ctx.target,
      cleanLogits: ctx.cleanLogits,
      output: acc.output,
      rows: {
        copies: r.copies.subarray(0, used),
        logits: r.logits.subarray(0, used * numClasses),
        y: r.y.subarray(0, used),
        top1: r.top1.subarray(0, used),
        channelMeans: r.channelMeans.subarray(0, used * total),
      },
      layers,
      inputs: loop.inputs ? loop.inputs.subarray(0, used * size) : null,
      samplesUsed: used,
      checks: loop.checks,
      stable: loop.stable,
      ties: loop.ties,
      timings: { setup: ctx.setup, ...c, total: performance.now() - this.started },
      release: ctx.release,
    };
  }
}

/** The stopping rule's state over one extraction: the sums at the last check, and every check. */
class AutoStop {
  readonly checks: StoppingCheck[] = [];
  stable = false;
  private snapshot: { full: UnitSums; half: UnitSums } | null = null;
  private previous: LayerTies[] | null = null;
  /** Consecutive checks so far at which the rule held. */
  private held = 0;
  /** The top-k with ties of every layer at the last check. */
  ties: LayerTies[] | null = null;
  private readonly flatLayout: FlatLayout;

  constructor(
    private readonly rule: StoppingRule,
    layers: readonly { channels: number; height: number; width: number }[],
    layout: SlotLayout,
    private readonly shifts: Float32Array,
    private readonly sums: SharedSums,
  ) {
    this.flatLayout = {
      channels: layers.map((l) => l.channels),
      unitsPerChannel: layers.map((l) => l.height * l.width),
      unitOffsets: layout.unitOffsets,
    };
  }

  /**
   * Checks the rule on the sums of the first `index + 1` batches. Every batch up to this one is merged (they merge
   * in order) and none after it (the limit). The check reads a copy of the sums, so the workers merge on (up to
   * `nextLimit` batches) while it runs.
   */
  check(index: number, acc: Accumulated, nextLimit: number): StoppingCheck {
    const sums = this.sums;
    if (mergedBatches(sums) !== index + 1) throw new Error('merge order broken');
    this.snapshot ??= { full: sameSize(sums), half: sameSize(sums) };
    copyInto(this.snapshot.full, sums);
    copyInto(this.snapshot.half, sums.half!);
    setMergeLimit(sums, nextLimit);
    const out = acc.output;
    const flatSums: FlatSums = { ...this.snapshot.full, count: out.count, sumY: out.sumY, sumYY: out.sumYY };
    const flatHalf: FlatSums = { ...this.snapshot.half, ...acc.half! };
    const scores: LayerScores[] = [];
    topKSetsWithHalves(flatSums, flatHalf, this.shifts, this.flatLayout, this.rule, scores);
    const ties = layerTies(scores, this.rule.topK);
    const check = checkWithTies(ties, this.previous, this.held, acc.used, this.rule);
    this.checks.push(check);
    this.previous = ties;
    this.held = check.holds ? this.held + 1 : 0;
    this.ties = ties;
    this.stable = check.stable;
    return check;
  }

  /** After an early stop the sums go back to those of the stopping check (later batches may have merged). */
  restoreIfStopped(sums: SharedSums): void {
    if (this.stable && this.snapshot) copyInto(sums, this.snapshot.full);
  }
}

/** Zeroed private arrays the size of `sums`. */
function sameSize(sums: UnitSums): UnitSums {
  const n = sums.sumA.length;
  return { sumA: new Float64Array(n), sumAA: new Float64Array(n), sumAY: new Float64Array(n) };
}

/** Copies `from` into `to`. */
function copyInto(to: UnitSums, from: UnitSums): void {
  to.sumA.set(from.sumA);
  to.sumAA.set(from.sumAA);
  to.sumAY.set(from.sumAY);
}
