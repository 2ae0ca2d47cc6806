/**
 * Fixtures of the sweep tests: a tiny CNN for 28x28 grey images built in memory (fast, and independent of the
 * embedded default model), a Redis server on a free port, and the built CLI. The small IDX dataset the sweeps read
 * is written by idx.ts; the real Fashion-MNIST test set, for the end-to-end sweep, is in test/support/env.ts.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export const CLI = fileURLToPath(new URL('../../cli/dist/main.js', import.meta.url));
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build' first (npm test does)`);

export const FASHION_LABELS = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** A deterministic pseudo-random weight in [-0.5, 0.5). */
const weight = (seed: number) => (i: number) => {
  const x = Math.sin((i + 1) * 12.9898 + seed * 78.233) * 43758.5453;
  return x - Math.floor(x) - 0.5;
};

function tensor(name: string, dims: number[], fill: (i: number) => number) {
  const size = dims.reduce((a, b) => a * b, 1);
  return { name, dims, dataType: 1, floatData: Array.from({ length: size }, (_, i) => fill(i)) };
}

function info(name: string, dims: (number | string)[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType: 1,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/**
 * input [N,1,28,28] -> conv 8 (3x3, stride 2, pad 1) -> relu -> conv 16 (3x3, stride 2, pad 1) -> relu
 * -> conv 10 (1x1) -> GlobalAveragePool -> Flatten -> logits [N,10].
 */
export function tinyFashionModel(): Uint8Array {
  const ints = (name: string, values: number[]) => ({
    name,
    type: onnx.AttributeProto.AttributeType.INTS,
    ints: values,
  });
  const conv = (name: string, input: string, w: string, b: string, out: string, k: number, stride: number) => ({
    opType: 'Conv',
    name,
    input: [input, w, b],
    output: [out],
    attribute:
      k === 3 ? [ints('pads', [1, 1, 1, 1]), ints('strides', [stride, stride]), ints('kernel_shape', [3, 3])] : [],
  });
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'tiny-fashion',
      input: [info('input', ['N', 1, 28, 28])],
      output: [info('logits', ['N', 10])],
      initializer: [
        tensor('w1', [8, 1, 3, 3], (i) => weight(1)(i) * 1.5),
        tensor('b1', [8], (i) => weight(2)(i) * 0.2),
        tensor('w2', [16, 8, 3, 3], (i) => weight(3)(i) * 0.6),
        tensor('b2', [16], (i) => weight(4)(i) * 0.2),
        tensor('w3', [10, 16, 1, 1], (i) => weight(5)(i) * 2),
        tensor('b3', [10], () => 0),
      ],
      node: [
        conv('conv1', 'input', 'w1', 'b1', 'c1', 3, 2),
        { opType: 'Relu', name: 'relu1', input: ['c1'], output: ['r1'] },
        conv('conv2', 'r1', 'w2', 'b2', 'c2', 3, 2),
        { opType: 'Relu', name: 'relu2', input: ['c2'], output: ['r2'] },
        conv('conv3', 'r2', 'w3', 'b3', 'c3', 1, 1),
        { opType: 'GlobalAveragePool', name: 'gap', input: ['c3'], output: ['pooled'] },
        { opType: 'Flatten', name: 'flatten', input: ['pooled'], output: ['logits'] },
      ],
    },
  }).finish();
}

/** Writes the tiny model and its labels into `dir`; returns the CLI flags that use them. */
export async function writeTinyModel(dir: string): Promise<string[]> {
  const model = join(dir, 'tiny.onnx');
  const labels = join(dir, 'labels.txt');
  await writeFile(model, tinyFashionModel());
  await writeFile(labels, `${FASHION_LABELS.join('\n')}\n`);
  return ['--model', model, '--labels', labels, '--preprocess', 'none', '--grayscale', '--size', '28'];
}

/** The tests' own activation-table cache: never the user's. */
const CACHE_DIR = mkdtempSync(join(tmpdir(), 'ns-sweep-cache-'));

/** Runs the built CLI to completion. */
export function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NEURONSCOPE_DEBUG: '1', NEURONSCOPE_CACHE_DIR: CACHE_DIR, ...env },
    timeout: 300_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the built CLI in the background, collecting its stderr. */
export function spawnCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, NEURONSCOPE_DEBUG: '1', NEURONSCOPE_CACHE_DIR: CACHE_DIR, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => {
    output.stdout += d;
  });
  child.stderr.on('data', (d) => {
    output.stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output, exited };
}

/** Polls `check` until it returns true (or throws after `timeoutMs`). */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 60_000, what = 'condition') {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** A throwaway Redis on a free local port. */
export async function startRedis(
  extra: string[] = [],
): Promise<{ url: string; stop(): Promise<void>; process: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra],
    {
      stdio: 'ignore',
    },
  );
  const url = `redis://127.0.0.1:${port}`;
  // Up when it answers a PING on the socket (+PONG, or -NOAUTH from a Redis with a password).
  const answers = () =>
    new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.setTimeout(1000);
      socket.once('data', (d) => {
        socket.destroy();
        resolve(/^[+-]/.test(d.toString()));
      });
      socket.once('connect', () => socket.write('PING\r\n'));
      for (const event of ['error', 'timeout'] as const) {
        socket.once(event, () => {
          socket.destroy();
          resolve(false);
        });
      }
    });
  await until(answers, 10_000, 'redis-server to start');
  return {
    url,
    process: child,
    stop: async () => {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
