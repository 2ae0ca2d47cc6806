import { constants } from 'node:fs';
import { access, copyFile, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, type RunConfig, sha256, temporaryPathFor } from '@neuronscope/core';
import { RUN_FILES } from './files.js';

/** Bump when the layout or meaning of cached tables changes: old entries are then simply not found. */
const CACHE_FORMAT = 1;

/** The tables `extract` writes, which the cache holds. */
const CACHED: readonly (keyof typeof RUN_FILES)[] = ['outputs', 'activations', 'unitStats', 'channelStats'];

/** `$NEURONSCOPE_CACHE_DIR`, else `$XDG_CACHE_HOME/neuronscope`, else `~/.cache/neuronscope`. */
export function defaultCacheDir(): string {
  if (process.env.NEURONSCOPE_CACHE_DIR) return process.env.NEURONSCOPE_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'neuronscope');
}

/**
 * Content address of an extraction: hashes of the model, image and labels bytes plus every setting that changes
 * the tables (preprocessing, perturbation with its seed, layers, target, output, batch size). Paths do not count.
 */
export function cacheKey(config: RunConfig): string {
  return sha256(
    canonicalJson({
      format: CACHE_FORMAT,
      model: config.model.sha256,
      image: config.image.sha256,
      preprocessing: config.preprocessing,
      perturbation: config.perturbation,
      layers: config.layers.map((l) => l.layer),
      target: config.target,
      output: config.output,
      batchSize: config.batchSize,
    }),
  );
}

const exists = (path: string) =>
  access(path, constants.R_OK).then(
    () => true,
    () => false,
  );

/** Copies `from` to `to` through a temporary file, so `to` is never half-written. */
async function copyAtomic(from: string, to: string): Promise<void> {
  const tmp = temporaryPathFor(to);
  await copyFile(from, tmp);
  await rename(tmp, to);
}

/**
 * Copies a cached extraction into `dir`. Returns false (and copies nothing) when the entry is missing or lacks a
 * file, e.g. `inputs.npy` when `withInputs` is asked for.
 */
export async function restoreFromCache(
  cacheDir: string,
  key: string,
  dir: string,
  withInputs: boolean,
): Promise<boolean> {
  const entry = join(cacheDir, key);
  const names = [...CACHED, ...(withInputs ? (['inputs'] as const) : [])].map((k) => RUN_FILES[k]);
  for (const name of names) if (!(await exists(join(entry, name)))) return false;
  await mkdir(dir, { recursive: true });
  for (const name of names) await copyAtomic(join(entry, name), join(dir, name));
  return true;
}

/** Stores the extraction tables of `dir` under `key`; the entry appears whole (directory rename) or not at all. */
export async function storeInCache(cacheDir: string, key: string, dir: string): Promise<void> {
  const entry = join(cacheDir, key);
  const tmp = temporaryPathFor(entry);
  await mkdir(tmp, { recursive: true });
  try {
    const present = new Set(await readdir(dir));
    const names = [...CACHED, 'inputs' as const].map((k) => RUN_FILES[k]).filter((n) => present.has(n));
    for (const name of names) await copyFile(join(dir, name), join(tmp, name));
    await rm(entry, { recursive: true, force: true });
    await rename(tmp, entry);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
