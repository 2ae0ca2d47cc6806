/**
 * `npm run bench:sweep` (and the sweep part of `npm run bench`): what a dataset sweep costs, side by side in one run.
 *
 * 1. The 12 photos of ../shared/images with SqueezeNet 1.1 (N = 50, all layers): `neuronscope sweep --no-cache` in a
 *    fresh process against bare onnxruntime inference of the same 600 copies (rendered beforehand, one session with
 *    every core, batches of 8); then the same sweep filling an empty cache (bytes per image) and once more from it.
 * 2. 1,000 Fashion-MNIST test images with the embedded default model against bare inference of their 50,000 copies,
 *    and peak RSS of that sweep against a 50-image one (flat in the number of images is the target).
 * 3. The default `explain` on SqueezeNet (N = 50 and 1,000 masked copies for the heat maps): extract against maps.
 *
 * Every sweep runs the installed CLI in a fresh process (`--import rss-hook.js` reports its peak RSS, worker threads
 * included). The load average is printed with every figure: the machine may be shared.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tensorDims } from '@neuronscope/core';
import { AnalysisOptionsSchema, createExplainer, defaultModel } from '@neuronscope/engine';
import { perturbationTable, readPerturbationTable, renderCopy } from '@neuronscope/perturb';
import { encodePng, readIdxImages } from '@neuronscope/sweep';
import * as ort from 'onnxruntime-node';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SHARED = resolve(ROOT, '../shared');
const CLI = join(ROOT, 'packages/cli/dist/main.js');
const RSS_HOOK = fileURLToPath(new URL('./rss-hook.js', import.meta.url));
const FASHION = '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz';
const SQUEEZENET = join(SHARED, 'models/squeezenet1_1.onnx');
const IMAGENET_LABELS = join(SHARED, 'models/imagenet_classes.txt');
const PHOTOS = join(SHARED, 'images');
const N = 50;
const BATCH = 8;

const log = (line = '') => process.stdout.write(`${line}\n`);
const fmt = (x: number, digits = 1) => x.toFixed(digits);
const load = () => fmt(loadavg()[0]!, 1);

// ---------------------------------------------------------------------------------------------------------------
// A sweep in a fresh process.

interface SweepRun {
  seconds: number;
  images: number;
  maxRssMB: number;
  loadAtStart: string;
}

/** Runs `neuronscope sweep` with `args` in a fresh process; its time, images and peak RSS. */
function sweep(args: string[], images: number): Promise<SweepRun> {
  const rssFile = join(mkdtempSync(join(tmpdir(), 'ns-bench-rss-')), 'rss.json');
  const loadAtStart = load();
  const t0 = performance.now();
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', RSS_HOOK, CLI, 'sweep', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NEURONSCOPE_BENCH_RSS_FILE: rssFile },
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => {
      if (code !== 0) return fail(new Error(`sweep ${args.join(' ')}: exit ${code}: ${stderr.trim()}`));
      const { maxRssMB } = JSON.parse(readFileSync(rssFile, 'utf8')) as { maxRssMB: number };
      done({ seconds: (performance.now() - t0) / 1000, images, maxRssMB, loadAtStart });
    });
  });
}

const perMinute = (r: SweepRun) => (60 * r.images) / r.seconds;

/** Bytes under `dir`, recursively. */
function folderBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) bytes += statSync(join(entry.parentPath, entry.name)).size;
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------------------------
// Bare inference of the copies a sweep analyses.

interface BareRun {
  sessionSeconds: number;
  runSeconds: number;
  copies: number;
}

/** Every copy (N per image) of `images`, rendered as the sweep renders them, in batches of {@link BATCH}. */
async function renderedBatches(
  model: string,
  images: (string | Uint8Array)[],
): Promise<{ input: string; batches: ort.Tensor[] }> {
  const explainer = await createExplainer({ ...(model ? { model } : {}), cache: false });
  try {
    const analysis = AnalysisOptionsSchema.parse({ samples: N });
    const batches: ort.Tensor[] = [];
    let input = '';
    for (const image of images) {
      const loaded = await explainer.load(image);
      const config = explainer.configFor(loaded, analysis);
      input = config.model.input;
      const tensor = loaded.tensor;
      const size = tensor.data.length;
      const copies = readPerturbationTable(perturbationTable(config.perturbation, tensor));
      for (let first = 0; first < copies.length; first += BATCH) {
        const chunk = copies.slice(first, first + BATCH);
        const data = new Float32Array(chunk.length * size);
        chunk.forEach((copy, b) => {
          renderCopy(tensor, copy, data.subarray(b * size, (b + 1) * size));
        });
        batches.push(new ort.Tensor('float32', data, tensorDims(tensor, chunk.length)));
      }
    }
    return { input, batches };
  } finally {
    await explainer.close();
  }
}

/** The unmodified model on pre-rendered batches: one session with every core. */
async function bare(modelPath: string, input: string, batches: ort.Tensor[]): Promise<BareRun> {
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: availableParallelism(),
    logSeverityLevel: 3,
  });
  const t1 = performance.now();
  for (const batch of batches) await session.run({ [input]: batch });
  const t2 = performance.now();
  await session.release();
  const copies = batches.reduce((s, b) => s + b.dims[0]!, 0);
  return { sessionSeconds: (t1 - t0) / 1000, runSeconds: (t2 - t1) / 1000, copies };
}

/** The model file a createExplainer() without `model` uses. */
const defaultModelPath = async () => (await defaultModel()).model;

// ---------------------------------------------------------------------------------------------------------------
// The three measurements.

const photos = () =>
  readdirSync(PHOTOS)
    .filter((f) => ['.png', '.jpg', '.jpeg'].includes(extname(f).toLowerCase()))
    .sort()
    .map((f) => join(PHOTOS, f));

/** The table row of a sweep beside bare inference of its copies. */
function ratioRow(what: string, sweepRun: SweepRun, bareRun: BareRun): string {
  const bareTotal = bareRun.sessionSeconds + bareRun.runSeconds;
  return (
    `| ${what} | ${sweepRun.images} | ${fmt(sweepRun.seconds)} s, ${fmt(perMinute(sweepRun))} images/min | ` +
    `${bareRun.copies} copies: ${fmt(bareRun.runSeconds, 2)} s (+ ${fmt(bareRun.sessionSeconds, 2)} s session) | ` +
    `${fmt(bareTotal / sweepRun.seconds, 3)} | ${fmt(sweepRun.maxRssMB, 0)} MB | ${sweepRun.loadAtStart} |`
  );
}

/** What the measurements print: the table's rows, then notes below it. */
interface Printed {
  rows: string[];
  notes: string[];
}

async function sharedPhotos(out: string, printed: Printed): Promise<BareRun> {
  const images = photos();
  const common = ['--source', PHOTOS, '--model', SQUEEZENET, '--labels', IMAGENET_LABELS, '-n', String(N), '-q'];
  const { input, batches } = await renderedBatches(SQUEEZENET, images);
  const bareRun = await bare(SQUEEZENET, input, batches);
  const noCache = await sweep([...common, '--no-cache', '--out', join(out, 'photos-nocache')], images.length);
  printed.rows.push(ratioRow(`${images.length} shared photos, SqueezeNet 1.1, all 26 layers`, noCache, bareRun));
  const cacheDir = join(out, 'cache');
  const cold = await sweep([...common, '--cache-dir', cacheDir, '--out', join(out, 'photos-cold')], images.length);
  const cacheBytes = folderBytes(cacheDir);
  const warm = await sweep([...common, '--cache-dir', cacheDir, '--out', join(out, 'photos-warm')], images.length);
  printed.notes.push(
    `Cache: ${fmt(cacheBytes / cold.images / 1024, 0)} KB per SqueezeNet image (${cold.images} images, ` +
      `${fmt(cacheBytes / 1024 ** 2, 1)} MB); filling it ${fmt(cold.seconds)} s, the same sweep from it ` +
      `${fmt(warm.seconds)} s (${fmt(perMinute(warm))} images/min, load ${warm.loadAtStart}).`,
  );
  return bareRun;
}

async function fashionMnist(out: string, images: number, printed: Printed): Promise<void> {
  const model = await defaultModelPath();
  const idx = await readIdxImages(FASHION);
  const pngs = Array.from({ length: images }, (_, i) => encodePng(idx.image(i), idx.cols, idx.rows, 1));
  const { input, batches } = await renderedBatches(model, pngs);
  const bareRun = await bare(model, input, batches);
  const small = await sweep(
    ['--source', FASHION, '--limit', '50', '-n', String(N), '--no-cache', '-q', '--out', join(out, 'fm50')],
    50,
  );
  const big = await sweep(
    [
      '--source',
      FASHION,
      '--limit',
      String(images),
      '-n',
      String(N),
      '--no-cache',
      '-q',
      '--out',
      join(out, `fm${images}`),
    ],
    images,
  );
  printed.rows.push(ratioRow(`${images} Fashion-MNIST images, the default model`, big, bareRun));
  printed.notes.push(
    `Peak RSS: ${fmt(small.maxRssMB, 0)} MB for 50 images, ${fmt(big.maxRssMB, 0)} MB for ${big.images} ` +
      `(ratio ${fmt(big.maxRssMB / small.maxRssMB, 2)}).`,
  );
}

/** The default `explain` on SqueezeNet and cat.png, no cache: extract (and stats) against the heat maps. */
async function explainStages(bareSqueezeNet: BareRun, printed: Printed): Promise<void> {
  const explainer = await createExplainer({ model: SQUEEZENET, labels: IMAGENET_LABELS, cache: false });
  try {
    const image = join(PHOTOS, 'cat.png');
    await explainer.explain(join(PHOTOS, 'owl.jpg'), { samples: 3 }); // warms the pool: sessions are not the question
    const loadAtStart = load();
    const t0 = performance.now();
    const result = await explainer.explain(image, { samples: N });
    const t1 = performance.now();
    const maps = await explainer.heatMaps(result);
    const t2 = performance.now();
    // The maps stage also runs the deletion and insertion curves of the faithfulness check: their copies count too.
    const curveCopies = maps.faithfulness?.points.length ?? 0;
    const copies = maps.meta.masks + curveCopies;
    printed.notes.push(
      `Default explain, SqueezeNet on cat.png (warm pool, load ${loadAtStart}): extract and stats ` +
        `${fmt((t1 - t0) / 1000, 2)} s (N = ${N}), maps ${fmt((t2 - t1) / 1000, 2)} s ` +
        `(${maps.meta.masks} masked copies and ${curveCopies} copies of the faithfulness curves): ` +
        `maps / extract = ${fmt((t2 - t1) / (t1 - t0), 2)}. Bare inference of ${copies} copies at the rate ` +
        `measured above: ${fmt((copies * bareSqueezeNet.runSeconds) / bareSqueezeNet.copies, 2)} s.`,
    );
  } finally {
    await explainer.close();
  }
}

/** Every measurement of this file, in order (`--fashion-images` changes the 1,000). */
export async function benchSweeps(images = 1000): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), 'ns-bench-sweep-'));
  try {
    const printed: Printed = { rows: [], notes: [] };
    const bareSqueezeNet = await sharedPhotos(out, printed);
    await fashionMnist(out, images, printed);
    await explainStages(bareSqueezeNet, printed);
    log(`Sweeps, end to end in a fresh process (${availableParallelism()} cores, N = ${N}, no cache unless said):`);
    log();
    log('| sweep | images | sweep | bare inference of the same copies | ratio (bare / sweep) | peak RSS | load |');
    log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const row of printed.rows) log(row);
    for (const note of printed.notes) log(`\n${note}`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const i = process.argv.indexOf('--fashion-images');
  await benchSweeps(i >= 0 ? Number(process.argv[i + 1]) : 1000);
}
