/**
 * The command-line flags shared by several commands, and how their values become the engine's options. Every
 * default shown or used here is the engine's (`DEFAULTS`); the engine's schemas check the values again.
 */
import { resolve } from 'node:path';
import type { StatsConfig } from '@neuronscope/core';
import {
  type AblateOptions,
  type AnalysisOptions,
  type BoxKind,
  DEFAULTS,
  type DeconvOptions,
  type ExplainerOptions,
  type MapsOptions,
  type ModelOptions,
} from '@neuronscope/engine';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { reportError } from './errors.js';

/** An integer option value at least `min`. */
export function integer(min: number) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError('not an integer.');
    const n = Number(value);
    if (n < min) throw new InvalidArgumentError(`must be at least ${min}.`);
    return n;
  };
}

/** A finite number. */
export function number(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('not a number.');
  return n;
}

/** `--samples`: a whole number of copies (at least 3), or `auto`. */
export function samples(value: string): number | 'auto' {
  return value.trim() === 'auto' ? 'auto' : integer(3)(value);
}

/** A number in [0, 1]. */
export function fraction(value: string): number {
  const n = number(value);
  if (n < 0 || n > 1) throw new InvalidArgumentError('must be between 0 and 1.');
  return n;
}

/** Comma-separated numbers. */
export function numberList(value: string): number[] {
  return value.split(',').map((v) => number(v));
}

/** `224` or `224x224` (height x width). */
export function sizeOption(value: string): [number, number] {
  const parts = value
    .toLowerCase()
    .split('x')
    .map((v) => integer(1)(v));
  if (parts.length === 1) return [parts[0]!, parts[0]!];
  if (parts.length === 2) return [parts[0]!, parts[1]!];
  throw new InvalidArgumentError('use N or HxW.');
}

/** Collects repeated `--param key=value` into an object; values that read as numbers or booleans become those. */
export function paramOption(value: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('use key=value.');
  const key = value.slice(0, eq);
  const raw = value.slice(eq + 1);
  const parsed =
    raw === 'true' ? true : raw === 'false' ? false : raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  return { ...previous, [key]: parsed };
}

/** Options that pick the model, its preprocessing and layers. */
export function addModelOptions(cmd: Command): Command {
  return cmd
    .option('-m, --model <file>', 'ONNX image classifier (default: the embedded Fashion-MNIST model)')
    .option('--labels <file>', 'class labels, one per line (UTF-8), one line per model output')
    .option('--background', 'output 0 is a background class the labels file leaves out (line i names output i + 1)')
    .addOption(
      new Option(
        '--preprocess <preset>',
        'preprocessing preset (default: imagenet for RGB models; caffe: BGR, 0-255 minus the ImageNet mean)',
      ).choices(['imagenet', 'inception', 'caffe', 'none']),
    )
    .option('--size <HxW>', 'model input size, e.g. 224 or 224x224', sizeOption)
    .option('--mean <list>', 'per-channel mean after scaling to [0,1], e.g. 0.485,0.456,0.406', numberList)
    .option('--std <list>', 'per-channel std, e.g. 0.229,0.224,0.225', numberList)
    .addOption(new Option('--layout <layout>', 'input tensor layout').choices(['NCHW', 'NHWC']))
    .addOption(
      new Option('--channel-order <order>', "colour order of the tensor (default: the preset's)").choices([
        'RGB',
        'BGR',
      ]),
    )
    .option('--grayscale', 'feed one grey channel')
    .option(
      '--layers <spec>',
      'layers to record: names, globs (any part of a tensor name or module path, e.g. features.12* or layer4.1), ' +
        'indices or ranges, comma-separated (default: every Conv output; name any other 4-D tensor, see layers --all)',
    );
}

/** Options that define the perturbations and the output analysed. */
export function addRunOptions(cmd: Command): Command {
  return addModelOptions(cmd)
    .option('-i, --image <file>', "image to explain (default: the default model's sample image)")
    .option('--perturb <family>', 'perturbation family: paper, gaussian, multiplicative, mask', DEFAULTS.perturb)
    .option(
      '-n, --samples <N>',
      "number of copies N, the clean copy included, or 'auto' (stop when stable); with --perturb paper copy i " +
        'has noise scale i*sigma, so N also sets the largest noise (--param maxScale=s keeps it at s)',
      samples,
      DEFAULTS.samples,
    )
    .option('--max-samples <n>', 'with --samples auto: the most copies to run', integer(3), DEFAULTS.maxSamples)
    .option(
      '--stop-agreement <a>',
      `with --samples auto: agreement the top-k sets must reach (default ${DEFAULTS.stopAgreement})`,
      fraction,
    )
    .option('--seed <seed>', 'random seed', integer(0), DEFAULTS.seed)
    .option('--sigma <sigma>', 'noise scale of the family (shortcut for --param sigma=...)', number)
    .option('--param <key=value>', 'family parameter, repeatable (e.g. grid=7 keepProb=0.5 baseline=blur)', paramOption)
    .option('--target <class>', "class index or label (default: the clean image's top-1)")
    .addOption(
      new Option('--output <kind>', 'network output y that activations are correlated with')
        .choices(['prob', 'logit', 'logprob'])
        .default(DEFAULTS.output),
    )
    .option(
      '--batch-size <n>',
      `copies per inference call (default: ${DEFAULTS.batchSize}, or 1 for fixed-batch models)`,
      integer(1),
    );
}

/** An absolute path of a path option, resolved against the caller's folder. */
export const absolute = (p: unknown): string | undefined => (typeof p === 'string' ? resolve(p) : undefined);

/** Reads the parsed model options of a command (paths made absolute). */
export function modelOptionsOf(o: Record<string, unknown>): ModelOptions {
  return {
    model: absolute(o.model),
    labels: absolute(o.labels),
    preprocess: o.preprocess as ModelOptions['preprocess'],
    size: o.size as [number, number] | undefined,
    mean: o.mean as number[] | undefined,
    std: o.std as number[] | undefined,
    layout: o.layout as ModelOptions['layout'],
    grayscale: o.grayscale as boolean | undefined,
    channelOrder: o.channelOrder as ModelOptions['channelOrder'],
    background: o.background as boolean | undefined,
    layers: o.layers as string | undefined,
  };
}

/** Reads the parsed run options of a command: the explainer's and the analysis's. */
export function runOptionsOf(o: Record<string, unknown>): ExplainerOptions & AnalysisOptions & { image?: string } {
  const params = { ...((o.param as Record<string, unknown> | undefined) ?? {}) };
  if (o.sigma !== undefined) params.sigma = o.sigma;
  return {
    ...modelOptionsOf(o),
    image: absolute(o.image),
    perturb: o.perturb as string,
    samples: o.samples as number | 'auto',
    maxSamples: o.maxSamples as number | undefined,
    stopAgreement: o.stopAgreement as number | undefined,
    seed: o.seed as number,
    params,
    target: o.target as string | undefined,
    output: o.output as ExplainerOptions['output'],
    batchSize: o.batchSize as number | undefined,
    topK: o.topK as number | undefined,
    eligibility: o.eligibility as number | undefined,
  };
}

export type Opts = Record<string, unknown>;

export const outOption = () =>
  new Option('-o, --out <dir>', 'run directory: every stage reads and writes its files here').default('out/run');
export const statsOptions = (cmd: Command) =>
  cmd
    .option('-k, --top-k <k>', 'neurons selected per layer by each metric', integer(1), DEFAULTS.topK)
    .option('--eligibility <a>', 'precision needs a mean activation of at least this', number, DEFAULTS.eligibility);
export const threadsOption = () =>
  new Option('--threads <n>', 'onnxruntime intra-op threads of each worker (default: the cores shared out)').argParser(
    integer(1),
  );
/** `--workers` of the commands that run the network; there `--threads` is per worker's session. */
export const workersOption = () =>
  new Option(
    '--workers <n>',
    'pool workers, each with its own session of --threads threads (default: one single-threaded worker per core, at most 4)',
  ).argParser(integer(1));
export const statsConfigOf = (o: Opts): StatsConfig => ({
  topK: o.topK as number,
  eligibility: o.eligibility as number,
});
/** The cache flags of the commands that run the network. */
export const addCacheOptions = (cmd: Command) =>
  cmd
    .option('--no-cache', 'neither reuse nor store cached tables')
    .option('--cache-dir <dir>', 'the cache (default: $NEURONSCOPE_CACHE_DIR or ~/.cache/neuronscope)');
/** The runtime settings (workers, threads, cache) of a command. */
export const runtimeOf = (o: Opts) => ({
  workers: o.workers as number | undefined,
  threads: o.threads as number | undefined,
  cache: o.cache as boolean | undefined,
  cacheDir: absolute(o.cacheDir),
});

/** The options that shape the heat maps; `explain` and `maps` take them. */
export function addMapsOptions(cmd: Command): Command {
  return cmd
    .option(
      '--masks <M>',
      `masked copies for the heat maps (${DEFAULTS.masks}; 0 skips the maps in explain)`,
      integer(0),
      DEFAULTS.masks,
    )
    .option('--mask-grid <s>', 'RISE mask grid: s x s random cells', integer(2), DEFAULTS.maskGrid)
    .option('--mask-keep <p>', 'probability that a mask cell keeps the image', number, DEFAULTS.maskKeep)
    .addOption(
      new Option('--mask-baseline <kind>', 'what masked-out pixels become')
        .choices(['zero', 'mean', 'blur'])
        .default(DEFAULTS.maskBaseline),
    )
    .option('--mask-seed <seed>', "seed of the masks (default: the run's seed)", integer(0))
    .option('--map-size <cells>', 'longest side of a heat map, in cells', integer(4), DEFAULTS.mapSize);
}

/** Reads the parsed maps options of a command. */
export function mapsOptionsOf(o: Opts): MapsOptions {
  return {
    masks: o.masks as number,
    grid: o.maskGrid as number,
    keepProb: o.maskKeep as number,
    baseline: o.maskBaseline as MapsOptions['baseline'],
    seed: o.maskSeed as number | undefined,
    mapSize: o.mapSize as number,
  };
}

/** The options that shape the deconvnet projections; `explain` and `deconv` take them. */
export function addDeconvOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--deconv-mode <mode>', 'deconvnet (Zeiler & Fergus), or guided (guided backpropagation)')
        .choices(['deconvnet', 'guided'])
        .default(DEFAULTS.deconvMode),
    )
    .addOption(
      new Option('--unpool <kind>', 'max-unpooling: spread over the window (nearest), or to the forward maximum')
        .choices(['nearest', 'switches'])
        .default(DEFAULTS.deconvUnpool),
    )
    .option(
      '--box-threshold <t>',
      "a deconvnet box holds the pixels at least this fraction of the projection's strongest",
      fraction,
      DEFAULTS.boxThreshold,
    );
}

/** Reads the parsed deconv options of a command. */
export function deconvOptionsOf(o: Opts): DeconvOptions {
  return {
    mode: o.deconvMode as DeconvOptions['mode'],
    unpool: o.unpool as DeconvOptions['unpool'],
    boxThreshold: o.boxThreshold as number,
  };
}

/** `--boxes`: what the report's overview draws. */
export const boxesOption = () =>
  new Option(
    '--boxes <kind>',
    "boxes the report's overview draws: the receptive field at each neuron's most active unit, or its deconvnet box",
  )
    .choices(['receptive-field', 'deconv'])
    .default(DEFAULTS.boxes);

/** The `--boxes` value of a command. */
export const boxesOf = (o: Opts): BoxKind => o.boxes as BoxKind;

/** The ablation settings of `explain --ablate [mode] --ablate-random N`, or undefined without `--ablate`. */
export function ablateOf(o: Opts): AblateOptions | undefined {
  if (o.ablate === undefined || o.ablate === false) return undefined;
  const mode = o.ablate === true ? DEFAULTS.ablateMode : o.ablate;
  if (mode !== 'zero' && mode !== 'mean') throw new InvalidArgumentError(`--ablate ${String(mode)}: use zero or mean`);
  return { mode, random: (o.ablateRandom as number | undefined) ?? DEFAULTS.ablateRandom, seed: o.seed as number };
}

/** Runs `action`, turning any failure into a one-line error and a non-zero exit code. */
export const guarded =
  (action: (o: Opts) => Promise<void>) =>
  async (o: Opts): Promise<void> => {
    try {
      await action(o);
    } catch (err) {
      reportError(err);
    }
  };
