/**
 * `npm run bench`: what neuronscope's analysis costs over bare inference, in one process and one run.
 *
 * For VGG-16 at 128x128 with 2 classes (random weights, generated into out/bench/ by make-vgg16.ts when missing)
 * and ../shared/models/squeezenet1_1.onnx at 224, on the same image, copies and batch size:
 *
 * 1. bare onnxruntime-node inference (the unmodified model, pre-rendered inputs, no extra outputs) with one
 *    session of 2 threads and with the pool's layout (one single-threaded session per worker), against the full
 *    `extract` + `stats` stages (unit-level statistics of every conv layer, every table written), at N = 50 and
 *    500: throughput end to end, per copy (the slope from N = 50 to 500, fixed costs removed) and their ratios;
 * 2. peak RSS of separate child processes running the full stages at N = 50 and 1000;
 * 3. the full stages with the default workers against one session with 2 threads;
 * 4. `--samples auto` (at most 500 copies) against a fixed N = 500: time, copies and agreement of the top-k sets,
 *    strict and counting the ties the rule reports;
 * 5. the CLI end to end (`neuronscope explain -n 500 --masks 0 --no-cache`, with the default deconv stage and with
 *    `--no-deconv`, fresh processes) against bare
 *    onnxruntime inference of 500 inputs in a fresh process (one session, 2 threads, batch 32, session creation
 *    included);
 * 6. the same analysis in plain PyTorch (tools/bench/pytorch_reference.py, when python3 has torch), in the same
 *    run, side by side with neuronscope's;
 * 7. the issue-16 targets, measured against what they ask;
 * 8. dataset sweeps (sweep.ts): the shared photos and `--fashion-images` (1,000) Fashion-MNIST images through
 *    `neuronscope sweep` in fresh processes beside bare inference of the same copies, cache size and peak RSS.
 *
 * Repeats (`--repeats`, 3; the comparisons 3 and 4 at most 2), interleaved; medians with the range. `--quick`: one
 * repeat of everything; `--no-memory`, `--no-cli`, `--no-pytorch`, `--no-sweep` skip parts. Results also go to
 * out/bench/results.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultParallelism } from '@neuronscope/activations';
import { type InputTensor, type RunConfig, type Summary, tensorDims } from '@neuronscope/core';
import { AnalysisOptionsSchema, createExplainer, type ExplainerOptions } from '@neuronscope/engine';
import { perturbationTable, readPerturbationTable, renderCopy } from '@neuronscope/perturb';
import { Piscina } from 'piscina';
import type { BareTask } from './bare-worker.js';
import { measureFloor } from './floor.js';
import { writeVgg16 } from './make-vgg16.js';
import { benchSweeps } from './sweep.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SHARED = resolve(ROOT, '../shared');
const BATCH = 8;
const STATS = { topK: 5, eligibility: 0.1 };

const IMAGE = join(SHARED, 'images/cat.png');
/** The CLI comparison explains another photo. */
const CLI_IMAGE = join(SHARED, 'images/hot_dog.jpg');

interface ModelSpec {
  readonly name: string;
  readonly path: string;
  readonly image: string;
  readonly size: number;
}

const MODELS: Record<string, ModelSpec> = {
  vgg16: { name: 'VGG-16 128x128, 2 classes', path: join(ROOT, 'out/bench/vgg16-128.onnx'), image: IMAGE, size: 128 },
  squeezenet: {
    name: 'SqueezeNet 1.1 224x224',
    path: join(SHARED, 'models/squeezenet1_1.onnx'),
    image: IMAGE,
    size: 224,
  },
};

/** A run's configuration and its clean input, as the engine resolves them. */
interface PreparedRun {
  config: RunConfig;
  input: InputTensor;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const range = (xs: readonly number[]) => [Math.min(...xs), Math.max(...xs)] as const;
const fmt = (x: number, digits = 1) => x.toFixed(digits);
const withRange = (xs: readonly number[], digits = 1) => {
  const [lo, hi] = range(xs);
  return xs.length > 1 ? `${fmt(median(xs), digits)} [${fmt(lo, digits)}-${fmt(hi, digits)}]` : fmt(xs[0]!, digits);
};

// ---------------------------------------------------------------------------------------------------------------
// The full pipeline: the engine's explainer, as every command runs it.

const prepared = new Map<string, PreparedRun>();

/** The analysis options of a run of `samples` copies (`auto`: at most 500). */
function analysis(samples: number | 'auto', stopAgreement?: number) {
  return {
    samples,
    maxSamples: 500,
    ...(stopAgreement === undefined ? {} : { stopAgreement }),
    seed: 1,
    ...STATS,
  };
}

/** The explainer's options for a model (no cache: every run computes). */
function explainerOptions(model: ModelSpec, par: { workers?: number; threads?: number } = {}): ExplainerOptions {
  return { model: model.path, batchSize: BATCH, cache: false, ...par };
}

/** The run configuration and clean input of a model's image (no workers are started). */
async function prepare(model: ModelSpec, samples: number | 'auto', stopAgreement?: number): Promise<PreparedRun> {
  const key = `${model.path}:${samples}:${stopAgreement}`;
  let run = prepared.get(key);
  if (!run) {
    const explainer = await createExplainer(explainerOptions(model));
    const input = await explainer.load(model.image);
    const config = explainer.configFor(input, AnalysisOptionsSchema.parse(analysis(samples, stopAgreement)));
    run = { config, input: input.tensor };
    prepared.set(key, run);
  }
  return run;
}

/** CPU seconds used so far by every thread of this process (workers and onnxruntime's threads included). */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

interface FullResult {
  seconds: number;
  /** CPU seconds of the whole process during the run. */
  cpu: number;
  extractSeconds: number;
  statsSeconds: number;
  samplesUsed: number;
  timings: Record<string, number>;
  /** --samples auto: samples, settled and agreement at every check. */
  checks: { samples: number; settled: number; agreement: number }[];
  summary: Summary;
}

/**
 * One explanation end to end: the explainer created (model loaded, workers and sessions started), the image
 * explained (extract and stats, every table built and encoded), the explainer closed.
 */
async function full(
  model: ModelSpec,
  samples: number | 'auto',
  par: { workers?: number; threads?: number } = {},
  stopAgreement?: number,
): Promise<FullResult> {
  const c0 = cpuSeconds();
  const t0 = performance.now();
  const explainer = await createExplainer(explainerOptions(model, par));
  try {
    const explanation = await explainer.explain(model.image, analysis(samples, stopAgreement));
    const t1 = performance.now();
    const extractSeconds = (explanation.timings?.total ?? 0) / 1000;
    return {
      seconds: (t1 - t0) / 1000,
      cpu: cpuSeconds() - c0,
      extractSeconds,
      statsSeconds: (t1 - t0) / 1000 - extractSeconds,
      samplesUsed: explanation.summary.samplesUsed ?? 0,
      timings: { ...explanation.timings },
      checks: (explanation.stopping?.checks ?? []).map((c) => ({
        samples: c.samples,
        settled: c.settled,
        agreement: c.agreement,
      })),
      summary: explanation.summary,
    };
  } finally {
    await explainer.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Bare inference: the unmodified model on pre-rendered copies, in worker sessions like the pool's.

interface BareResult {
  sessionSeconds: number;
  runSeconds: number;
  /** CPU seconds of the whole process: creating the sessions, running the copies. */
  sessionCpu: number;
  runCpu: number;
}

/** The first batch of copies of a run of `n` copies, rendered, and its dims. */
async function firstBatch(model: ModelSpec, n: number): Promise<{ data: Float32Array; dims: number[] }> {
  const run = await prepare(model, n);
  const { input } = run;
  const size = input.data.length;
  const copies = readPerturbationTable(perturbationTable(run.config.perturbation, input)).slice(0, BATCH);
  const data = new Float32Array(BATCH * size);
  copies.forEach((c, b) => {
    renderCopy(input, c, data.subarray(b * size, (b + 1) * size));
  });
  return { data, dims: tensorDims(input, BATCH) };
}

async function bare(model: ModelSpec, n: number, workers: number, threads: number): Promise<BareResult> {
  const run = await prepare(model, n);
  const { data, dims } = await firstBatch(model, n);
  const pool = new Piscina<BareTask, { sessionMs: number; runMs: number }>({
    filename: fileURLToPath(new URL('./bare-worker.js', import.meta.url)),
    minThreads: workers,
    maxThreads: workers,
  });
  const task = {
    modelPath: model.path,
    threads,
    inputName: run.config.model.input,
    data,
    dims,
  };
  try {
    const c0 = cpuSeconds();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: workers }, () => pool.run({ ...task, batches: 0, last: 0 })));
    const t1 = performance.now();
    const c1 = cpuSeconds();
    const batches = Math.floor(n / BATCH);
    const share = (w: number) => Math.floor(batches / workers) + (w < batches % workers ? 1 : 0);
    await Promise.all(
      Array.from({ length: workers }, (_, w) =>
        pool.run({ ...task, batches: share(w), last: w === 0 ? n % BATCH : 0 }),
      ),
    );
    const t2 = performance.now();
    return {
      sessionSeconds: (t1 - t0) / 1000,
      runSeconds: (t2 - t1) / 1000,
      sessionCpu: c1 - c0,
      runCpu: cpuSeconds() - c1,
    };
  } finally {
    await pool.destroy();
  }
}

/** CPU milliseconds to render one `paper` copy of the model's input with each noise generator. */
async function renderingCost(model: ModelSpec): Promise<{ polar: number; boxMuller: number }> {
  const run = await prepare(model, 500);
  const { input } = run;
  const out = new Float32Array(input.data.length);
  const cost = (normals: 'polar' | 'box-muller') => {
    const rounds: number[] = [];
    for (let r = 0; r < 6; r++) {
      const c0 = cpuSeconds();
      for (let i = 1; i <= 20; i++) {
        renderCopy(input, { copy: i, family: 'paper', seed: 1000 + i, params: { sigma: 0.1, scale: i, normals } }, out);
      }
      if (r > 0) rounds.push(((cpuSeconds() - c0) * 1000) / 20);
    }
    return median(rounds);
  };
  return { polar: cost('polar'), boxMuller: cost('box-muller') };
}

// ---------------------------------------------------------------------------------------------------------------
// Peak RSS in a fresh process.

interface ChildResult {
  seconds: number;
  maxRssMB: number;
  samplesUsed: number;
}

async function child(spec: { model: string; samples: number }): Promise<void> {
  const r = await full(MODELS[spec.model]!, spec.samples);
  const result: ChildResult = {
    seconds: r.seconds,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    samplesUsed: r.samplesUsed,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function inChild(model: string, samples: number): ChildResult {
  const r = spawnSync(
    process.execPath,
    [fileURLToPath(import.meta.url), '--child', JSON.stringify({ model, samples })],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    },
  );
  if (r.status !== 0) throw new Error(`child run failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as ChildResult;
}

// ---------------------------------------------------------------------------------------------------------------

/** Mean over layers of |A ∩ B| / |B| for the per-layer selections by `criterion`. */
function agreement(a: Summary, b: Summary, criterion: 'byCorrelation' | 'byPrecision'): number {
  let sum = 0;
  let count = 0;
  a.layers.forEach((l, k) => {
    const ref = b.layers[k]![criterion].map((n) => n.channel);
    if (ref.length === 0) return;
    const set = new Set(l[criterion].map((n) => n.channel));
    sum += ref.filter((c) => set.has(c)).length / ref.length;
    count++;
  });
  return count ? sum / count : 1;
}

/**
 * Mean over layers of the share of `reference`'s selection (N = 500) that `auto` selected or reported as tied with
 * its k-th (summary.json's `stopping`): a channel the auto run could not tell from its k-th is not a disagreement.
 */
function agreementWithTies(auto: Summary, reference: Summary, criterion: 'byCorrelation' | 'byPrecision'): number {
  const key = criterion === 'byCorrelation' ? 'correlation' : 'precision';
  let sum = 0;
  let count = 0;
  auto.layers.forEach((l, k) => {
    const ref = reference.layers[k]![criterion].map((n) => n.channel);
    if (ref.length === 0) return;
    const found = new Set([...l[criterion].map((n) => n.channel), ...(auto.stopping?.layers[k]?.[key].ties ?? [])]);
    sum += ref.filter((c) => found.has(c)).length / ref.length;
    count++;
  });
  return count ? sum / count : 1;
}

/** Mean over layers of the channels outside the top-k that `auto` reported as tied with its k-th. */
function tiedOutside(auto: Summary, criterion: 'correlation' | 'precision'): number {
  const layers = auto.stopping?.layers ?? [];
  const byName = criterion === 'correlation' ? 'byCorrelation' : 'byPrecision';
  const total = layers.reduce((sum, l, k) => {
    const top = new Set(auto.layers[k]![byName].map((n) => n.channel));
    return sum + l[criterion].ties.filter((c) => !top.has(c)).length;
  }, 0);
  return layers.length ? total / layers.length : 0;
}

interface CliResult {
  /** Wall seconds of the `explain` process, and the extract stage as it reports it. */
  seconds: number;
  extractSeconds: number;
}

/**
 * `neuronscope explain -n 500 --masks 0 --no-cache` (with `extra` flags: `--no-deconv`) in a fresh process, timed
 * from spawn to exit.
 */
function cliExplain(model: ModelSpec, n: number, extra: readonly string[] = []): CliResult {
  const cli = join(ROOT, 'packages/cli/dist/main.js');
  const out = join(ROOT, 'out/bench/cli-run');
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [
      cli,
      'explain',
      '-m',
      model.path,
      '-i',
      CLI_IMAGE,
      '-n',
      String(n),
      '--masks',
      '0',
      '--no-cache',
      ...extra,
      '-o',
      out,
    ],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`neuronscope explain failed: ${r.stderr}`);
  const extract = /extract: \d+ copies through the model in ([\d.]+) s/.exec(`${r.stdout}${r.stderr}`);
  return { seconds, extractSeconds: extract ? Number(extract[1]) : Number.NaN };
}

interface BareCliResult {
  /** In the process: session creation + inference; and the process from spawn to exit. */
  seconds: number;
  processSeconds: number;
}

/** Bare inference of `n` inputs in a fresh process: one session, 2 threads, batch 32 (bare-cli.ts). */
function bareCli(model: ModelSpec, n: number): BareCliResult {
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [fileURLToPath(new URL('./bare-cli.js', import.meta.url)), model.path, String(n), String(model.size)],
    { encoding: 'utf8' },
  );
  const processSeconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`bare inference failed: ${r.stderr}`);
  const { sessionSeconds, runSeconds } = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
    sessionSeconds: number;
    runSeconds: number;
  };
  return { seconds: sessionSeconds + runSeconds, processSeconds };
}

interface TorchResult {
  bare: Record<string, number>;
  full: Record<string, number>;
  bareSlope: number;
  fullSlope: number;
}

/** tools/bench/pytorch_reference.py's medians (null when python3 has no torch). */
function pytorchReference(models: readonly string[], repeats: number): Record<string, TorchResult> | null {
  const probe = spawnSync('python3', ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return null;
  const r = spawnSync(
    'python3',
    [
      join(ROOT, 'tools/bench/pytorch_reference.py'),
      '--repeats',
      String(repeats),
      '--models',
      models.join(','),
      '--json',
    ],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  if (r.status !== 0) throw new Error(`pytorch_reference.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, TorchResult>;
}

const log = (line = '') => process.stdout.write(`${line}\n`);
const loadAverage = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

async function main(): Promise<void> {
  const childSpec = arg('child');
  if (childSpec) return child(JSON.parse(childSpec) as { model: string; samples: number });

  const quick = process.argv.includes('--quick');
  const skip = (part: string) => process.argv.includes(`--no-${part}`);
  const repeats = Number(arg('repeats') ?? (quick ? 1 : 3));
  const names = (arg('models') ?? 'vgg16,squeezenet').split(',');
  if (!existsSync(IMAGE)) throw new Error(`${IMAGE} not found: the benchmark needs ../shared (models and images)`);
  if (names.includes('vgg16') && !existsSync(MODELS.vgg16!.path)) {
    log(`generating ${MODELS.vgg16!.path} (random weights, seed 1)`);
    await writeVgg16(MODELS.vgg16!.path, { size: 128, classes: 2, seed: 1 });
  }
  const cores = availableParallelism();
  const def = defaultParallelism(cores);
  const started = performance.now();
  log(`# neuronscope benchmark`);
  log();
  log(
    `${cpus()[0]?.model ?? 'cpu'}, ${cores} cores, Node ${process.version}; batch ${BATCH}; every conv layer; paper ` +
      `perturbation, seed 1; top-${STATS.topK}; ${repeats} repeat(s), median [range]; load average at start ` +
      `${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
  );
  log(
    `default pool: ${def.workers} worker(s) x ${def.threads} thread(s); bare baselines: 1x${cores} and ${def.workers}x${def.threads}`,
  );
  const results: Record<string, unknown> = { cores, default: def, repeats, models: {} };
  const targets: Record<
    string,
    {
      perCopy: number;
      fullRate500: number;
      fullSlope: number;
      cli: number;
      cliPlain: number;
      autoCopies: number[];
      autoTies: number[];
    }
  > = {};

  for (const name of names) {
    const model = MODELS[name];
    if (!model) throw new Error(`unknown model ${name} (vgg16, squeezenet)`);
    if (!existsSync(model.path)) throw new Error(`${model.path} not found`);
    log();
    log(`## ${model.name}`);
    const rows: Record<number, { bareOne: BareResult[]; barePool: BareResult[]; full: FullResult[] }> = {};
    for (const n of [50, 500]) {
      rows[n] = { bareOne: [], barePool: [], full: [] };
      for (let r = 0; r < repeats; r++) {
        rows[n].bareOne.push(await bare(model, n, 1, cores));
        rows[n].barePool.push(await bare(model, n, def.workers, def.threads));
        rows[n].full.push(await full(model, n));
      }
    }
    // Peak RSS varies by tens of MB from run to run (allocator and arena placement): medians of `repeats` runs.
    const memory: Record<number, ChildResult[]> = { 50: [], 1000: [] };
    if (!skip('memory'))
      for (let r = 0; r < repeats; r++) for (const n of [50, 1000]) memory[n]!.push(inChild(name, n));
    const rss = (n: number) => memory[n]!.map((m) => m.maxRssMB);
    const compareRepeats = Math.min(repeats, 2);

    log();
    log('Overhead, end to end (bare: session creation + inference; full: the extract and stats stages):');
    log();
    log(`| N | bare 1 session x ${cores} threads img/s | bare pool img/s | full img/s | ratio (full / best bare) |`);
    log('|---|---|---|---|---|');
    const e2e = (b: BareResult, n: number) => n / (b.sessionSeconds + b.runSeconds);
    const ratios: Record<number, number> = {};
    for (const n of [50, 500]) {
      const row = rows[n]!;
      const bestBare = Math.max(median(row.bareOne.map((b) => e2e(b, n))), median(row.barePool.map((b) => e2e(b, n))));
      const fullRate = row.full.map((f) => n / f.seconds);
      ratios[n] = median(fullRate) / bestBare;
      log(
        `| ${n} | ${withRange(row.bareOne.map((b) => e2e(b, n)))} | ${withRange(row.barePool.map((b) => e2e(b, n)))} | ` +
          `${withRange(fullRate)} | ${fmt(ratios[n], 3)} |`,
      );
    }
    // Per copy: the slope between N = 50 and N = 500, which removes every fixed cost (sessions, tables, stats).
    const slope = (a: number[], b: number[]) => (median(b) - median(a)) / 450;
    const bareOneSlope = slope(
      rows[50]!.bareOne.map((b) => b.runSeconds),
      rows[500]!.bareOne.map((b) => b.runSeconds),
    );
    const barePoolSlope = slope(
      rows[50]!.barePool.map((b) => b.runSeconds),
      rows[500]!.barePool.map((b) => b.runSeconds),
    );
    const fullSlope = slope(
      rows[50]!.full.map((f) => f.seconds),
      rows[500]!.full.map((f) => f.seconds),
    );
    const bestSlope = Math.min(bareOneSlope, barePoolSlope);
    log();
    log(
      `Per copy (slope from N = 50 to 500): bare 1x${cores} ${fmt(bareOneSlope * 1000, 2)} ms, bare pool ` +
        `${fmt(barePoolSlope * 1000, 2)} ms, full ${fmt(fullSlope * 1000, 2)} ms: ratio ${fmt(bestSlope / fullSlope, 3)} ` +
        `(analysis overhead ${fmt((fullSlope / bestSlope - 1) * 100, 1)}% per copy; load average now ${loadAverage()})`,
    );
    const t = rows[500]!.full.map((f) => f.timings);
    const part = (key: string) => fmt(median(t.map((x) => x[key] ?? 0)) / 1000, 2);
    log(
      `Full run at N = 500, medians in s: extract ${fmt(median(rows[500]!.full.map((f) => f.extractSeconds)), 2)} ` +
        `(setup ${part('setup')}; summed over the workers: render ${part('render')}, inference ${part('inference')}, ` +
        `merge ${part('merge')}, waiting for the turn to merge ${part('wait')}; per-copy tables ${part('tables')} and ` +
        `moments tables ${part('finish')} on the coordinating thread), outside extract (explainer, sessions, metrics, tables) ${fmt(median(rows[500]!.full.map((f) => f.statsSeconds)), 2)}`,
    );

    // CPU time of the whole process: what the work costs, whatever else the machine is running. With the pool's
    // single-threaded sessions there is no spinning, so on an idle machine wall time ~ CPU time / cores.
    const cpuSlope = (a: number[], b: number[]) => slope(a, b);
    const bareCpuSlope = cpuSlope(
      rows[50]!.barePool.map((b) => b.runCpu),
      rows[500]!.barePool.map((b) => b.runCpu),
    );
    const fullCpuSlope = cpuSlope(
      rows[50]!.full.map((f) => f.cpu),
      rows[500]!.full.map((f) => f.cpu),
    );
    log();
    log(
      `CPU time of all threads (independent of other load; pool layout ${def.workers}x${def.threads} for both): per copy ` +
        `bare ${fmt(bareCpuSlope * 1000, 2)} ms, full ${fmt(fullCpuSlope * 1000, 2)} ms: ratio ` +
        `${fmt(bareCpuSlope / fullCpuSlope, 3)} (overhead ${fmt((fullCpuSlope / bareCpuSlope - 1) * 100, 1)}% per copy)`,
    );
    log();
    log('| N | bare pool CPU s (sessions + copies) | full CPU s | ratio (bare / full) |');
    log('|---|---|---|---|');
    const cpuRatios: Record<number, number> = {};
    for (const n of [50, 500]) {
      const row = rows[n]!;
      const bareCpu = row.barePool.map((b) => b.sessionCpu + b.runCpu);
      const fullCpu = row.full.map((f) => f.cpu);
      cpuRatios[n] = median(bareCpu) / median(fullCpu);
      log(`| ${n} | ${withRange(bareCpu, 2)} | ${withRange(fullCpu, 2)} | ${fmt(cpuRatios[n], 3)} |`);
    }

    // The floor: what reading every recorded activation costs at the least inside onnxruntime.
    const { data: floorData, dims: floorDims } = await firstBatch(model, 500);
    const floor = await measureFloor(model.path, floorData, floorDims);
    log();
    log(
      `The floor, one single-threaded session, batch ${BATCH}, per copy (medians of 7 rounds of 3 runs; bare runs first and last, 14 rounds):`,
    );
    log();
    log(
      '| bare | + channel means (NCHWc, read once) | + one sum per unit (leaves NCHWc, read once) | + neuronscope reductions |',
    );
    log('|---|---|---|---|');
    const floorCell = (ms: number) => `${fmt(ms, 2)} ms (ratio ${fmt(floor.bare / ms, 3)})`;
    log(
      `| ${fmt(floor.bare, 2)} ms | ${floorCell(floor.channelMeans)} | ${floorCell(floor.oneSumPerUnit)} | ` +
        `${floorCell(floor.neuronscope)} |`,
    );
    const rendering = await renderingCost(model);
    log();
    log(
      `Rendering one \`paper\` copy on this thread (CPU ms, median of 5 rounds of 20 copies): polar (JavaScript, ` +
        `float64) ${fmt(rendering.polar, 3)} ms, box-muller (WebAssembly SIMD) ${fmt(rendering.boxMuller, 3)} ms: ` +
        `${fmt(rendering.polar / rendering.boxMuller, 1)}x`,
    );

    if (!skip('memory')) {
      log();
      log('Memory, peak RSS of a fresh process running extract + stats:');
      log();
      log(
        `| N = 50 | N = 1000 | ratio of the medians (target <= 1.1) |\n|---|---|---|\n| ${withRange(rss(50), 0)} MB | ` +
          `${withRange(rss(1000), 0)} MB | ${fmt(median(rss(1000)) / median(rss(50)), 3)} |`,
      );
    }

    // Workers: the defaults against one session with all the cores' threads, the full stages at N = 500.
    const single: FullResult[] = [];
    for (let r = 0; r < compareRepeats; r++) single.push(await full(model, 500, { workers: 1, threads: cores }));
    const pooled = rows[500]!.full.slice(0, Math.max(compareRepeats, 1));
    log();
    log('Workers, full stages at N = 500 (img/s):');
    log();
    log(`| 1 session x ${cores} threads | ${def.workers} workers x ${def.threads} thread (default) | speed-up |`);
    log('|---|---|---|');
    const singleRate = single.map((f) => 500 / f.seconds);
    const pooledRate = pooled.map((f) => 500 / f.seconds);
    log(`| ${withRange(singleRate)} | ${withRange(pooledRate)} | ${fmt(median(pooledRate) / median(singleRate), 3)} |`);
    log(
      `(bare inference, steady state: 1x${cores} ${withRange(rows[500]!.bareOne.map((b) => 500 / b.runSeconds))} img/s, ` +
        `${def.workers}x${def.threads} ${withRange(rows[500]!.barePool.map((b) => 500 / b.runSeconds))} img/s)`,
    );

    // Early stopping against a fixed N = 500: the default rule (agreement 0.9) and a looser one (0.8).
    const fixed = pooled[0]!.summary;
    const autoRuns: Record<string, FullResult[]> = {};
    log();
    log('Early stopping, --samples auto (at most 500 copies) against a fixed N = 500:');
    log();
    log(
      '| --stop-agreement | fixed N = 500 s | auto s | copies used (target <= 167) | speed-up | agreement with N = 500, ' +
        'correlation: strict / counting ties | precision: strict / counting ties (target >= 0.9) | ' +
        'tied non-members per layer, correlation / precision |',
    );
    log('|---|---|---|---|---|---|---|---|');
    for (const stop of [0.9]) {
      const auto: FullResult[] = [];
      for (let r = 0; r < compareRepeats; r++) auto.push(await full(model, 'auto', {}, stop));
      autoRuns[stop] = auto;
      const agreeCorr = auto.map((a) => agreement(a.summary, fixed, 'byCorrelation'));
      const agreePrec = auto.map((a) => agreement(a.summary, fixed, 'byPrecision'));
      const tiesCorr = auto.map((a) => agreementWithTies(a.summary, fixed, 'byCorrelation'));
      const tiesPrec = auto.map((a) => agreementWithTies(a.summary, fixed, 'byPrecision'));
      log(
        `| ${stop} | ${withRange(pooled.map((f) => f.seconds))} | ${withRange(auto.map((f) => f.seconds))} | ` +
          `${auto.map((a) => a.samplesUsed).join(', ')} | ${fmt(median(pooled.map((f) => f.seconds)) / median(auto.map((f) => f.seconds)), 2)} | ` +
          `${withRange(agreeCorr, 3)} / ${withRange(tiesCorr, 3)} | ${withRange(agreePrec, 3)} / ${withRange(tiesPrec, 3)} | ` +
          `${fmt(median(auto.map((a) => tiedOutside(a.summary, 'correlation'))), 1)} / ` +
          `${fmt(median(auto.map((a) => tiedOutside(a.summary, 'precision'))), 1)} |`,
      );
    }

    // The CLI end to end, fresh processes, interleaved with the bare baseline.
    // The issue's measure has no heat maps; the deconv stage, on by default, came later: both are run.
    const cliRuns: CliResult[] = [];
    const plainCliRuns: CliResult[] = [];
    const bareCliRuns: BareCliResult[] = [];
    if (!skip('cli')) {
      for (let r = 0; r < repeats; r++) {
        bareCliRuns.push(bareCli(model, 500));
        cliRuns.push(cliExplain(model, 500));
        plainCliRuns.push(cliExplain(model, 500, ['--no-deconv']));
      }
      const cliSeconds = median(cliRuns.map((c) => c.seconds));
      const plainSeconds = median(plainCliRuns.map((c) => c.seconds));
      const bareSeconds = median(bareCliRuns.map((b) => b.seconds));
      log();
      log(
        `CLI end to end, N = 500 (\`neuronscope explain -n 500 --masks 0 --no-cache\`, ${CLI_IMAGE.split('/').at(-1)}, ` +
          `fresh processes; load average now ${loadAverage()}):`,
      );
      log();
      log(
        '| bare: session + inference, s (1 session x 2 threads, batch 32) | bare process s | explain process s | ' +
          'of which extract s | ratio bare / explain | explain --no-deconv s | ratio bare / explain --no-deconv |',
      );
      log('|---|---|---|---|---|---|---|');
      log(
        `| ${withRange(
          bareCliRuns.map((b) => b.seconds),
          2,
        )} | ${withRange(
          bareCliRuns.map((b) => b.processSeconds),
          2,
        )} | ` +
          `${withRange(
            cliRuns.map((c) => c.seconds),
            2,
          )} | ${withRange(
            cliRuns.map((c) => c.extractSeconds),
            2,
          )} | ` +
          `${fmt(bareSeconds / cliSeconds, 3)} | ${withRange(
            plainCliRuns.map((c) => c.seconds),
            2,
          )} | ${fmt(bareSeconds / plainSeconds, 3)} |`,
      );
    }
    const auto09 = autoRuns[0.9] ?? [];
    targets[name] = {
      perCopy: bestSlope / fullSlope,
      fullRate500: median(rows[500]!.full.map((f) => 500 / f.seconds)),
      fullSlope,
      cli: cliRuns.length
        ? median(bareCliRuns.map((b) => b.seconds)) / median(cliRuns.map((c) => c.seconds))
        : Number.NaN,
      cliPlain: plainCliRuns.length
        ? median(bareCliRuns.map((b) => b.seconds)) / median(plainCliRuns.map((c) => c.seconds))
        : Number.NaN,
      autoCopies: auto09.map((a) => a.samplesUsed),
      autoTies: auto09.map((a) =>
        Math.min(
          agreementWithTies(a.summary, fixed, 'byCorrelation'),
          agreementWithTies(a.summary, fixed, 'byPrecision'),
        ),
      ),
    };

    (results.models as Record<string, unknown>)[name] = {
      cli: { explain: cliRuns, explainNoDeconv: plainCliRuns, bare: bareCliRuns },
      model: model.name,
      rows: Object.fromEntries(
        Object.entries(rows).map(([n, row]) => [
          n,
          { bareOne: row.bareOne, barePool: row.barePool, full: row.full.map(({ summary: _, ...f }) => f) },
        ]),
      ),
      ratios,
      cpuRatios,
      cpuPerCopy: { bare: bareCpuSlope, full: fullCpuSlope, ratio: bareCpuSlope / fullCpuSlope },
      perCopy: { bareOne: bareOneSlope, barePool: barePoolSlope, full: fullSlope, ratio: bestSlope / fullSlope },
      memory,
      floor,
      workers: { single: single.map(({ summary: _, ...f }) => f), pooled: pooled.map(({ summary: _, ...f }) => f) },
      auto: Object.fromEntries(
        Object.entries(autoRuns).map(([stop, runs]) => [
          stop,
          runs.map(({ summary, ...f }) => ({
            ...f,
            agreeCorrelation: agreement(summary, fixed, 'byCorrelation'),
            agreePrecision: agreement(summary, fixed, 'byPrecision'),
            agreeCorrelationTies: agreementWithTies(summary, fixed, 'byCorrelation'),
            agreePrecisionTies: agreementWithTies(summary, fixed, 'byPrecision'),
            tiedOutside: {
              correlation: tiedOutside(summary, 'correlation'),
              precision: tiedOutside(summary, 'precision'),
            },
          })),
        ]),
      ),
    };
  }
  // The same analysis in plain PyTorch, in this run.
  const torch = skip('pytorch') ? null : pytorchReference(names, repeats);
  if (torch) {
    log();
    log(`## Against plain PyTorch (tools/bench/pytorch_reference.py, same run; load average now ${loadAverage()})`);
    log();
    log(
      '| model | PyTorch bare img/s (N = 500) | PyTorch full img/s (N = 500) | neuronscope full img/s (N = 500, end to end) | ' +
        'neuronscope / PyTorch, end to end (target >= 1.5) | per copy: PyTorch full ms, neuronscope full ms, neuronscope / PyTorch |',
    );
    log('|---|---|---|---|---|---|');
    for (const name of names) {
      const t = torch[name];
      const ours = targets[name];
      if (!t || !ours) continue;
      const torchRate = 500 / t.full['500']!;
      log(
        `| ${MODELS[name]!.name} | ${fmt(500 / t.bare['500']!)} | ${fmt(torchRate)} | ${fmt(ours.fullRate500)} | ` +
          `${fmt(ours.fullRate500 / torchRate, 2)}x | ${fmt(t.fullSlope * 1000, 2)}, ${fmt(ours.fullSlope * 1000, 2)}, ` +
          `${fmt(t.fullSlope / ours.fullSlope, 2)}x |`,
      );
    }
    results.pytorch = torch;
  } else if (!skip('pytorch')) {
    log();
    log('(python3 has no torch: the PyTorch comparison is skipped)');
  }

  log();
  log('## Issue 16 targets, as measured in this run');
  log();
  log(
    '| model | per-copy ratio (target) | CLI end to end, N = 500, --no-deconv / with deconv (target) | --samples auto: copies, agreement counting ties (targets <= 167, >= 0.9) | vs PyTorch, end to end (target 1.5x) |',
  );
  log('|---|---|---|---|---|');
  for (const name of names) {
    const t = targets[name];
    if (!t) continue;
    const goal = name === 'vgg16' ? 0.88 : 0.5;
    const torchRate = torch?.[name] ? 500 / torch[name].full['500']! : Number.NaN;
    log(
      `| ${MODELS[name]!.name} | ${fmt(t.perCopy, 3)} (${goal}) | ` +
        `${Number.isNaN(t.cli) ? 'not run' : `${fmt(t.cliPlain, 3)} / ${fmt(t.cli, 3)}`}` +
        `${name === 'squeezenet' ? ' (0.35)' : ''} | ${t.autoCopies.join(', ')}; ${t.autoTies.map((a) => fmt(a, 3)).join(', ')} | ` +
        `${Number.isNaN(torchRate) ? 'not run' : `${fmt(t.fullRate500 / torchRate, 2)}x`} |`,
    );
  }
  results.targets = targets;

  if (!skip('sweep')) {
    log();
    log('## Dataset sweeps');
    log();
    await benchSweeps(Number(arg('fashion-images') ?? (quick ? 100 : 1000)));
  }

  log();
  log(
    `total ${fmt((performance.now() - started) / 1000, 0)} s; load average at the end ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  const out = join(ROOT, 'out/bench/results.json');
  await mkdir(join(ROOT, 'out/bench'), { recursive: true });
  await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
  log(`results: ${out}`);
}

await main();
