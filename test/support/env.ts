/**
 * What the tests need from outside the repository, in one place: where each optional resource is, whether it is
 * here, and what a test does without it.
 *
 * A test asks for a resource with {@link requires}, as the options of `describe`, `it` or `it.each(...)`:
 *
 *     describe('explain on SqueezeNet 1.1', requires('shared'), () => { ... });
 *     it('opens the report in a browser', requires('chromium'), async () => { ... });
 *
 * When a resource is missing, the test is skipped and the reason travels with it (task meta) to the closing line
 * of the run (test/support/skip-reporter.ts). Under `NEURONSCOPE_REQUIRE_ALL=1` (CI) a missing resource fails the
 * test file instead, with the same one-line reason.
 *
 * Locations can be moved with environment variables: `NEURONSCOPE_SHARED_DIR` (the real models and photos; point it
 * at an empty folder to run the suite as a clone without ../shared would), `NEURONSCOPE_FASHION_MNIST_DIR` and
 * `NEURONSCOPE_CHROMIUM`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestOptions } from 'vitest';

declare module '@vitest/runner' {
  interface TaskMeta {
    /** The resource a skipped test lacked. */
    missing?: Resource;
    /** Why it is missing, in one line. */
    missingReason?: string;
  }
}

/** Set (to 1) in CI: a test that would skip for want of a resource fails instead. */
export const REQUIRE_ALL = process.env.NEURONSCOPE_REQUIRE_ALL === '1';

const dir = (path: string) => (path.endsWith('/') ? path : `${path}/`);

/** The real models and photos (read-only), `../shared` beside the repository unless `NEURONSCOPE_SHARED_DIR`. */
export const SHARED_DIR = process.env.NEURONSCOPE_SHARED_DIR
  ? dir(resolve(process.env.NEURONSCOPE_SHARED_DIR))
  : fileURLToPath(new URL('../../../shared/', import.meta.url));

export const shared = {
  dir: SHARED_DIR,
  squeezenet: `${SHARED_DIR}models/squeezenet1_1.onnx`,
  mobilenet: `${SHARED_DIR}models/mobilenetv2_1.0_224.onnx`,
  imagenetLabels: `${SHARED_DIR}models/imagenet_classes.txt`,
  /** The table of the models' top-1 on every photo. */
  modelsReadme: `${SHARED_DIR}models/README.md`,
  imagesDir: `${SHARED_DIR}images/`,
  image: (name: string) => `${SHARED_DIR}images/${name}`,
};

const FASHION_MNIST_DIR = dir(process.env.NEURONSCOPE_FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist');

/** Debian's dataset-fashion-mnist: the 10 000 test images and their labels. */
export const fashionMnist = {
  dir: FASHION_MNIST_DIR,
  testImages: `${FASHION_MNIST_DIR}t10k-images-idx3-ubyte.gz`,
  testLabels: `${FASHION_MNIST_DIR}t10k-labels-idx1-ubyte.gz`,
};

/** Debian's headless-capable Chromium, driven by playwright-core. */
export const CHROMIUM = process.env.NEURONSCOPE_CHROMIUM ?? '/usr/bin/chromium';

/** The embedded default model (part of the repository, always present): a Fashion-MNIST CNN and ten samples. */
const DEFAULT_MODEL_DIR = fileURLToPath(new URL('../../packages/engine/default-model/', import.meta.url));
export const defaultModel = {
  dir: DEFAULT_MODEL_DIR,
  model: `${DEFAULT_MODEL_DIR}fashion-vgg.onnx`,
  labels: `${DEFAULT_MODEL_DIR}labels.txt`,
  /** `0-tshirt-top.png` .. `9-ankle-boot.png`, 28x28 grey, classified as the class of their leading digit. */
  image: (name: string) => `${DEFAULT_MODEL_DIR}images/${name}`,
  images: [
    '0-tshirt-top.png',
    '1-trouser.png',
    '2-pullover.png',
    '3-dress.png',
    '4-coat.png',
    '5-sandal.png',
    '6-shirt.png',
    '7-sneaker.png',
    '8-bag.png',
    '9-ankle-boot.png',
  ],
};

export type Resource = 'shared' | 'fashion-mnist' | 'redis-server' | 'chromium' | 'npm-registry';

/** The first of `paths` that does not exist, as a reason; null when all exist. */
function firstMissing(paths: string[], hint: string): string | null {
  const missing = paths.find((p) => !existsSync(p));
  return missing ? `${missing} not found (${hint})` : null;
}

/** Each resource's check: null when it is here, else why not. */
const CHECKS: Record<Resource, () => string | null> = {
  shared: () =>
    firstMissing(
      [shared.squeezenet, shared.mobilenet, shared.imagenetLabels, shared.modelsReadme, shared.image('cat.png')],
      'the real models and photos: ../shared beside the repository, or NEURONSCOPE_SHARED_DIR',
    ),
  'fashion-mnist': () =>
    firstMissing([fashionMnist.testImages, fashionMnist.testLabels], 'apt-get install dataset-fashion-mnist'),
  'redis-server': () =>
    spawnSync('redis-server', ['--version']).status === 0
      ? null
      : 'redis-server not on PATH (apt-get install redis-server)',
  chromium: () => firstMissing([CHROMIUM], 'apt-get install chromium, or NEURONSCOPE_CHROMIUM'),
  // The install test installs the packed package's dependencies as a user would (from npm's cache when it can).
  'npm-registry': () =>
    spawnSync('npm', ['ping'], { timeout: 30_000, stdio: 'ignore' }).status === 0
      ? null
      : 'the npm registry did not answer `npm ping` (no network, or npm not on PATH)',
};

const known = new Map<Resource, string | null>();

/** Why `resource` is missing, or null when it is here (checked once per test file). */
export function missing(resource: Resource): string | null {
  if (!known.has(resource)) known.set(resource, CHECKS[resource]());
  return known.get(resource)!;
}

/** Whether `resource` is here; for code that runs while tests are collected, e.g. to list the shared photos. */
export const has = (resource: Resource) => missing(resource) === null;

/** Thrown while collecting a test file that needs a missing resource under `NEURONSCOPE_REQUIRE_ALL=1`. */
export class MissingResourceError extends Error {
  override name = 'MissingResourceError';
}

/**
 * The test options for a missing resource (`null`: none is missing): none; else skip, with the resource and its
 * reason in the task meta; or, when `requireAll`, throw {@link MissingResourceError}.
 */
export function optionsFor(lacking: { resource: Resource; reason: string } | null, requireAll: boolean): TestOptions {
  if (lacking === null) return {};
  const { resource, reason } = lacking;
  if (requireAll) throw new MissingResourceError(`NEURONSCOPE_REQUIRE_ALL=1 but ${resource} is missing: ${reason}`);
  return { skip: true, meta: { missing: resource, missingReason: reason } };
}

/**
 * Options for `describe` or `it` that need `resources`: none when all are here; else skip, with the first missing
 * resource and its reason in the task meta, or, under `NEURONSCOPE_REQUIRE_ALL=1`, throw {@link MissingResourceError}
 * so that the test file fails.
 */
export function requires(...resources: Resource[]): TestOptions {
  const resource = resources.find((r) => !has(r));
  return optionsFor(resource ? { resource, reason: missing(resource)! } : null, REQUIRE_ALL);
}
