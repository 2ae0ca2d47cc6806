import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultModel, shared } from '../../../test/support/env.js';

/** The real models and photos of ../shared (test/support/env.ts); tests that use them ask `requires('shared')`. */
export const SQUEEZENET = shared.squeezenet;
export const IMAGENET_LABELS = shared.imagenetLabels;
export const image = shared.image;

/** The embedded default model and its ten sample images (always in the repository). */
export const DEFAULT_MODEL = defaultModel.model;
export const DEFAULT_LABELS = defaultModel.labels;
export const sample = defaultModel.image;

export const CLI = fileURLToPath(new URL('../dist/main.js', import.meta.url));
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build' first (npm test does)`);

/** The tests' own activation-table cache, for runs without --no-cache or --cache-dir: never the user's. */
const CACHE_DIR = mkdtempSync(join(tmpdir(), 'ns-cli-cache-'));

/** Runs the built CLI and returns its exit status and output. */
export function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NEURONSCOPE_CACHE_DIR: CACHE_DIR, ...env, NEURONSCOPE_DEBUG: '' },
    timeout: 600_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Reads a float32 little-endian C-order .npy file. */
export function readNpy(path: string): { shape: number[]; data: Float32Array } {
  const buf = readFileSync(path);
  const headerLength = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + headerLength).toString('latin1');
  if (!header.includes("'descr': '<f4'") || !header.includes("'fortran_order': False")) throw new Error(header);
  const shape = (header.match(/'shape': \(([^)]*)\)/)?.[1] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const start = 10 + headerLength;
  const bytes = buf.subarray(start);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return { shape, data };
}
