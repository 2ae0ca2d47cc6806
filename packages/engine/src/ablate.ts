/**
 * The ablation test: on the clean image, switch off (zero, or set to the channel's mean activation over the
 * copies) the top-k correlation-selected channels of each layer, then the top-k precision-selected ones, then
 * `random` random k-sets of eligible channels, then each selected channel alone, and record the target probability
 * and top-1 after each. The model is edited, not re-implemented (a mask input on the layer, see
 * `@neuronscope/model`'s AblationRunner), one session per layer, ablation variants as batch rows.
 */
import {
  type AblationLayer,
  type AblationSet,
  type AblationSummary,
  ablationSchema,
  argmax,
  classProbabilities,
  columnValues,
  type InputTensor,
  makeTable,
  mulberry32,
  quantile,
  RUN_METADATA_KEY,
  type RunConfig,
  type Summary,
  type Table,
  UserError,
} from '@neuronscope/core';
import { AblationRunner, type AblationVariant, selectLayers } from '@neuronscope/model';
import type { ResolvedAblateOptions } from './defaults.js';
import type { ModelContext } from './model.js';
import { runId } from './run-config.js';

/** What the ablation test gives: the summary section and `ablation.parquet`. */
export interface AblationResult {
  readonly summary: AblationSummary;
  readonly table: Table;
}

/** 32-bit FNV-1a, to give every layer its own random stream. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** `count` sets of `k` distinct values of `pool`, each sorted (partial Fisher-Yates). */
export function randomSets(pool: readonly number[], k: number, count: number, seed: number): number[][] {
  const next = mulberry32(seed);
  const work = [...pool];
  const sets: number[][] = [];
  for (let s = 0; s < count; s++) {
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(next() * (work.length - i));
      [work[i], work[j]] = [work[j]!, work[i]!];
    }
    sets.push(work.slice(0, k).sort((a, b) => a - b));
  }
  return sets;
}

/**
 * Changes of the target probability smaller than this (0.01 percentage points) count as no change: drops within it
 * of each other are ties for the percentile, and a set is "above the random 95th percentile" only by more than it.
 * Without it, float32 rounding decides: e.g. in a classifier layer whose random ablations all change the
 * probability by -1e-6, a selected set with drop -1e-11 would rank above every one of them.
 */
export const TIE_TOLERANCE = 1e-4;

/** Percentile rank of `value` among `sample`: the fraction below it, ties (within `tolerance`) counted half. */
export function percentileRank(sample: readonly number[], value: number, tolerance = TIE_TOLERANCE): number {
  if (sample.length === 0) return Number.NaN;
  let below = 0;
  let equal = 0;
  for (const v of sample) {
    if (Math.abs(v - value) <= tolerance) equal++;
    else if (v < value) below++;
  }
  return (below + equal / 2) / sample.length;
}

/** A finite number, or null (JSON has no NaN). */
const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** One planned variant: which layer (position among the tested), which set, which random draw. */
interface Planned extends AblationVariant {
  readonly layer: number;
  readonly set: AblationSet;
  readonly draw: number;
}

/** The effect of one variant on the target. */
interface Outcome {
  probability: number;
  drop: number;
  logit: number;
  logitDrop: number;
  top1: number;
  top1Changed: boolean;
}

/** Per tested layer: each channel's mean activation and the eligible channels, from the neurons table. */
function channelFacts(neurons: Table, layers: readonly Summary['layers'][number][]) {
  const layer = columnValues<string>(neurons, 'layer');
  const channel = columnValues<number>(neurons, 'channel');
  const mean = columnValues<number>(neurons, 'mean_activation');
  const eligible = columnValues<boolean>(neurons, 'eligible');
  const facts = new Map(layers.map((l) => [l.layer, { mean: new Float64Array(l.channels), eligible: [] as number[] }]));
  for (let r = 0; r < layer.length; r++) {
    const entry = facts.get(layer[r]!);
    if (!entry) continue;
    entry.mean[channel[r]!] = mean[r]!;
    if (eligible[r]) entry.eligible.push(channel[r]!);
  }
  return facts;
}

/** The variants of every tested layer: its two selected sets and its random draws. */
function planVariants(
  layers: readonly Summary['layers'][number][],
  facts: ReturnType<typeof channelFacts>,
  opts: ResolvedAblateOptions,
  k: number,
): { plan: Planned[]; pools: { pool: 'eligible' | 'all'; size: number }[] } {
  const plan: Planned[] = [];
  const pools: { pool: 'eligible' | 'all'; size: number }[] = [];
  layers.forEach((l, target) => {
    const info = facts.get(l.layer)!;
    const pool = opts.pool === 'eligible' && info.eligible.length >= k ? 'eligible' : 'all';
    const members = pool === 'eligible' ? info.eligible : Array.from({ length: l.channels }, (_, c) => c);
    pools.push({ pool, size: members.length });
    const push = (set: AblationSet, channels: number[], draw: number) =>
      plan.push({ target, channels, layer: target, set, draw });
    push(
      'correlation',
      l.byCorrelation.map((n) => n.channel),
      -1,
    );
    if (l.byPrecision.length > 0)
      push(
        'precision',
        l.byPrecision.map((n) => n.channel),
        -1,
      );
    const draws = randomSets(members, k, opts.random, (opts.seed ^ hash(l.layer)) >>> 0);
    for (const [d, set] of draws.entries()) push('random', set, d);
    // Each selected channel alone, in correlation's order then precision's: what the report's neuron cards say.
    const alone = new Set([...l.byCorrelation, ...l.byPrecision].map((n) => n.channel));
    for (const channel of alone) push('neuron', [channel], -1);
  });
  return { plan, pools };
}

/** One layer's entry of the summary: the selected sets' drops against the random drops. */
function layerResult(
  l: Summary['layers'][number],
  rows: readonly { p: Planned; o: Outcome }[],
  pool: { pool: 'eligible' | 'all'; size: number },
  k: number,
): AblationLayer {
  const random = rows.filter((r) => r.p.set === 'random');
  const drops = random.map((r) => r.o.drop).sort((a, b) => a - b);
  const mean = drops.reduce((a, b) => a + b, 0) / drops.length;
  const std = Math.sqrt(drops.reduce((a, b) => a + (b - mean) ** 2, 0) / drops.length);
  const selected = (set: 'correlation' | 'precision') => {
    const r = rows.find((x) => x.p.set === set);
    if (!r) return null;
    return {
      channels: [...r.p.channels],
      probability: r.o.probability,
      drop: r.o.drop,
      top1: r.o.top1,
      top1Changed: r.o.top1Changed,
      percentile: percentileRank(drops, r.o.drop),
      zScore: std > 0 ? finite((r.o.drop - mean) / std) : null,
    };
  };
  return {
    layer: l.layer,
    layerIndex: l.layerIndex,
    channels: l.channels,
    k,
    pool: pool.pool,
    poolSize: pool.size,
    correlation: selected('correlation'),
    precision: selected('precision'),
    neurons: rows
      .filter((r) => r.p.set === 'neuron')
      .map((r) => ({
        channel: r.p.channels[0]!,
        probability: r.o.probability,
        drop: r.o.drop,
        top1Changed: r.o.top1Changed,
      })),
    random: {
      count: drops.length,
      mean,
      std,
      p5: quantile(drops, 0.05),
      p50: quantile(drops, 0.5),
      p95: quantile(drops, 0.95),
      top1Changed: random.filter((r) => r.o.top1Changed).length / random.length,
    },
  };
}

/** Totals over the tested layers. */
function totals(layers: readonly AblationLayer[]): AblationSummary['totals'] {
  const above = (set: 'correlation' | 'precision') =>
    layers.filter((l) => l[set] !== null && l[set]!.drop > l.random.p95 + TIE_TOLERANCE).length;
  const meanPercentile = (set: 'correlation' | 'precision') => {
    const values = layers.flatMap((l) => (l[set] ? [l[set]!.percentile] : []));
    return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
  };
  return {
    layers: layers.length,
    correlationAboveP95: above('correlation'),
    precisionAboveP95: above('precision'),
    meanPercentileCorrelation: meanPercentile('correlation'),
    meanPercentilePrecision: meanPercentile('precision'),
  };
}

/** `ablation.parquet`: one row per variant. */
function ablationTable(
  plan: readonly Planned[],
  outcomes: readonly Outcome[],
  layers: readonly Summary['layers'][number][],
  mode: string,
  target: number,
  metadata: Record<string, string>,
): Table {
  const n = plan.length;
  return makeTable(
    ablationSchema,
    {
      layer: { indices: Int32Array.from(plan, (p) => p.layer), dictionary: layers.map((l) => l.layer) },
      layer_index: Int32Array.from(plan, (p) => layers[p.layer]!.layerIndex),
      set: plan.map((p) => p.set),
      draw: Int32Array.from(plan, (p) => p.draw),
      channels: plan.map((p) => [...p.channels]) as unknown as readonly (number | null)[],
      mode: plan.map(() => mode),
      target: new Int32Array(n).fill(target),
      probability: Float64Array.from(outcomes, (o) => o.probability),
      drop: Float64Array.from(outcomes, (o) => o.drop),
      logit: Float32Array.from(outcomes, (o) => o.logit),
      logit_drop: Float64Array.from(outcomes, (o) => o.logitDrop),
      top1: Int32Array.from(outcomes, (o) => o.top1),
      top1_changed: outcomes.map((o) => o.top1Changed),
    },
    n,
    metadata,
  );
}

/** Runs the variants: the unablated network through the edited graph first, then every planned one. */
async function runVariants(
  context: ModelContext,
  layers: readonly Summary['layers'][number][],
  facts: ReturnType<typeof channelFacts>,
  plan: readonly Planned[],
  input: InputTensor,
  opts: ResolvedAblateOptions & { threads?: number; onProgress?: (done: number, total: number) => void },
): Promise<{ logits: Float32Array[]; baselines: (Float32Array | null)[] }> {
  const { model } = context;
  const runner = await AblationRunner.create(
    model.bytes,
    layers.map((l) => ({ tensor: l.layer, channels: l.channels })),
    {
      inputName: model.inputName,
      outputName: model.logitsName,
      fill: opts.mode === 'mean',
      fixedBatch: model.dynamicBatch ? null : model.batch,
      ...(opts.threads ? { threads: opts.threads } : {}),
      modelPath: model.path,
    },
  );
  if (opts.mode === 'mean') for (const [i, l] of layers.entries()) runner.setFill(i, facts.get(l.layer)!.mean);
  const variants: AblationVariant[] = [{ target: null, channels: [] }, ...plan];
  try {
    const batchSize = model.dynamicBatch ? opts.batchSize : 1;
    const logits = await runner.run(input, variants, batchSize, opts.onProgress);
    return { logits, baselines: [...runner.baselines] };
  } finally {
    await runner.release();
  }
}

/** Runs the ablation test of one explained image; see the module comment. */
export async function runAblation(
  context: ModelContext,
  run: {
    config: RunConfig;
    summary: Summary;
    neurons: Table;
    input: { tensor: InputTensor };
    /** The original model's logits on the clean image (outputs.parquet's metadata). */
    clean: { logits: readonly number[] };
  },
  opts: ResolvedAblateOptions,
  call: { threads?: number; log: (message: string) => void; onProgress?: (done: number, total: number) => void },
): Promise<AblationResult> {
  const { config, summary } = run;
  const wanted = new Set(selectLayers(config.layers, opts.layers, config.model.path).map((l) => l.layer));
  const layers = summary.layers.filter((l) => wanted.has(l.layer));
  if (layers.length === 0) throw new UserError('no layer to ablate: the selection matches none of the run layers');
  const k = summary.stats.topK;
  const facts = channelFacts(run.neurons, layers);
  const { plan, pools } = planVariants(layers, facts, opts, k);
  const started = performance.now();
  const { logits, baselines } = await runVariants(context, layers, facts, plan, run.input.tensor, {
    ...opts,
    ...(call.threads ? { threads: call.threads } : {}),
    ...(call.onProgress ? { onProgress: call.onProgress } : {}),
  });
  call.log(
    `ablate: ${plan.length + 1} variants of ${layers.length} layers in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

  const target = summary.target.index;
  const base = logits[0]!;
  if (target >= base.length) throw new UserError(`target ${target} is not a class of this model`);
  const kind = config.model.outputKind ?? 'logits';
  const probabilityOf = (row: Float32Array) => classProbabilities(row, kind)[target]!;
  const cleanProbability = probabilityOf(base);
  const cleanTop1 = argmax(base);
  const outcome = (row: Float32Array): Outcome => {
    const probability = probabilityOf(row);
    const top1 = argmax(row);
    return {
      probability,
      drop: cleanProbability - probability,
      logit: row[target]!,
      logitDrop: base[target]! - row[target]!,
      top1,
      top1Changed: top1 !== cleanTop1,
    };
  };
  const outcomes = plan.map((_, i) => outcome(logits[i + 1]!));
  const layerResults = layers.map((l, li) =>
    layerResult(
      l,
      plan.map((p, i) => ({ p, o: outcomes[i]! })).filter((r) => r.p.layer === li),
      pools[li]!,
      k,
    ),
  );
  // Every edited graph, with all masks ones, must compute what the original model computed on the clean image.
  let baselineDiff = 0;
  for (const b of [base, ...baselines]) {
    if (!b) continue;
    run.clean.logits.forEach((z, i) => {
      baselineDiff = Math.max(baselineDiff, Math.abs(z - b[i]!));
    });
  }
  const ablation: AblationSummary = {
    version: 1,
    mode: opts.mode,
    randomSets: opts.random,
    seed: opts.seed,
    pool: opts.pool,
    k,
    target,
    cleanProbability,
    cleanTop1,
    baselineMaxAbsLogitDiff: baselineDiff,
    variants: plan.length + 1,
    layers: layerResults,
    totals: totals(layerResults),
  };
  const table = ablationTable(plan, outcomes, layers, opts.mode, target, { [RUN_METADATA_KEY]: runId(config) });
  return { summary: ablation, table };
}
