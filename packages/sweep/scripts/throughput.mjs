#!/usr/bin/env node
// Throughput of `neuronscope sweep`, end to end (listing, analysis, compaction, aggregation), locally and with
// BullMQ workers on this machine. Used for the figures in docs/sweeps.md.
//
//   node packages/sweep/scripts/throughput.mjs --label fashion-1000 --workers 2 --redis redis://127.0.0.1:6390 -- \
//        --source /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz --limit 1000 -n 50
//
// Every run uses a fresh output directory and --no-cache, so every image is analysed. Local runs use all cores
// (onnxruntime's default); each worker gets --threads <cores / workers>.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../cli/dist/main.js', import.meta.url));
const argv = process.argv.slice(2);
const split = argv.indexOf('--');
const own = split < 0 ? argv : argv.slice(0, split);
const sweepArgs = split < 0 ? [] : argv.slice(split + 1);
const opt = (name, fallback) => {
  const i = own.indexOf(`--${name}`);
  return i < 0 ? fallback : own[i + 1];
};
const label = opt('label', 'sweep');
const workers = Number(opt('workers', '0'));
const redis = opt('redis', null);
const skipLocal = own.includes('--no-local');
const cores = availableParallelism();

const run = (args, env = {}) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => (code === 0 ? resolve(stderr) : reject(new Error(`exit ${code}: ${stderr}`))));
  });

const report = (mode, images, seconds, load) =>
  console.log(
    JSON.stringify({
      label,
      mode,
      images,
      seconds: Number(seconds.toFixed(1)),
      imagesPerMinute: Number(((60 * images) / seconds).toFixed(1)),
      load: load.map((l) => Number(l.toFixed(2))),
    }),
  );

const root = mkdtempSync(join(tmpdir(), 'ns-throughput-'));
if (!skipLocal) {
  const out = join(root, 'local');
  const load = loadavg();
  const t0 = performance.now();
  const log = await run(['sweep', ...sweepArgs, '--out', out, '--no-cache']);
  const seconds = (performance.now() - t0) / 1000;
  const images = Number(log.match(/sweep: (\d+) images from/)[1]);
  report('local', images, seconds, load);
}
if (workers > 0) {
  if (!redis) throw new Error('--workers needs --redis');
  const queue = `throughput-${Date.now()}`;
  const threads = String(Math.max(1, Math.floor(cores / workers)));
  const procs = Array.from({ length: workers }, () =>
    spawn(process.execPath, [CLI, 'worker', '--queue', redis, '--queue-name', queue, '--threads', threads, '-q'], {
      stdio: 'inherit',
    }),
  );
  const out = join(root, 'queue');
  const load = loadavg();
  const t0 = performance.now();
  const log = await run([
    'sweep',
    ...sweepArgs,
    '--out',
    out,
    '--no-cache',
    '--queue',
    redis,
    '--queue-name',
    queue,
    '--wait',
  ]);
  const seconds = (performance.now() - t0) / 1000;
  const images = Number(log.match(/sweep: (\d+) images, /)[1]);
  report(`${workers} workers x ${threads} threads`, images, seconds, load);
  for (const p of procs) p.kill('SIGTERM');
}
