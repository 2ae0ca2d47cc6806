import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** ../shared beside the repository: real models and photos, absent on a bare clone. */
export const SHARED = fileURLToPath(new URL('../../../../shared/', import.meta.url));
export const HAS_SHARED = existsSync(`${SHARED}models/squeezenet1_1.onnx`);
export const SQUEEZENET = `${SHARED}models/squeezenet1_1.onnx`;
export const IMAGENET_LABELS = `${SHARED}models/imagenet_classes.txt`;
export const image = (name: string) => `${SHARED}images/${name}`;
if (!HAS_SHARED) console.warn(`skipping tests that need ../shared: ${SHARED} not found`);

export const CLI = fileURLToPath(new URL('../dist/main.js', import.meta.url));
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build' first (npm test does)`);

/** Runs the built CLI and returns its exit status and output. */
export function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env, NEURONSCOPE_DEBUG: '' },
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
