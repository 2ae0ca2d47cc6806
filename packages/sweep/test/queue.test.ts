import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { columnValues, readParquetFile } from '@neuronscope/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requires } from '../../../test/support/env.js';
import { cli, spawnCli, startRedis, until, writeTinyModel } from './fixtures.js';
import { writeMiniIdx } from './idx.js';

const TABLES = ['neurons', 'images', 'aggregate', 'selection', 'selectivity'];
const bytes = (out: string, table: string) => readFileSync(join(out, 'sweep', `${table}.parquet`));
const exists = (path: string) =>
  readdir(join(path, '..')).then(
    (names) => names.includes(path.split('/').pop()!),
    () => false,
  );

describe('sweeps through BullMQ on a real Redis', requires('redis-server'), () => {
  let dir: string;
  let model: string[];
  let common: string[];
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let reference: string;
  const workers: ReturnType<typeof spawnCli>[] = [];
  const worker = (queue: string, env: Record<string, string> = {}) => {
    const w = spawnCli(
      [
        'worker',
        '--queue',
        redis.url,
        '--queue-name',
        queue,
        '--lock-duration',
        '3000',
        '--stalled-interval',
        '1000',
        '--threads',
        '1',
      ],
      env,
    );
    workers.push(w);
    return w;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ns-queue-'));
    model = await writeTinyModel(dir);
    const mini = await writeMiniIdx(dir);
    common = ['--source', mini.images, ...model, '-n', '8', '--top-k', '3', '--threads', '1'];
    reference = join(dir, 'reference');
    const r = cli(['sweep', ...common, '--out', reference, '--no-cache', '-q']);
    expect(r.status).toBe(0);
    redis = await startRedis();
  });

  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await redis?.stop();
  });

  it('runs a sweep on two workers, one killed mid-job, with every image exactly once', async () => {
    const out = join(dir, 'queued');
    const queue = 'two-workers';
    const r = cli([
      'sweep',
      ...common,
      '--out',
      out,
      '--no-cache',
      '--queue',
      redis.url,
      '--queue-name',
      queue,
      '--shard-size',
      '3',
    ]);
    expect(r.stderr).toMatch(/30 to analyse in 10 jobs/);
    expect(r.status).toBe(0);
    const parent = r.stderr.match(/aggregation job (\S+)/)![1]!;
    // Each image takes at least 300 ms: a job of 3 images is in flight for about a second, long enough to kill.
    const slow = { NEURONSCOPE_SWEEP_DELAY_MS: '300' };
    const a = worker(queue, slow);
    await until(() => /worker: images-\S+: mini/.test(a.output.stderr), 60_000, 'worker A to start a job');
    const b = worker(queue, slow);
    const killedJob = a.output.stderr.match(/worker: (images-\S+): mini/)![1]!;
    a.child.kill('SIGKILL');
    await a.exited;
    // Worker B takes the stalled job back once its lock expires, and finishes the sweep with the aggregation.
    await until(() => exists(join(out, 'sweep', 'aggregate.json')), 120_000, 'the aggregation');
    // The worker logs the aggregation just after writing aggregate.json: wait for the line too.
    await until(() => b.output.stderr.includes('aggregated 30 images'), 30_000, "worker B's aggregation line");
    const status = JSON.parse(
      cli(['status', '--queue', redis.url, '--queue-name', queue, '--out', out, '--json']).stdout,
    );
    expect(status.sweep).toMatchObject({ total: 30, done: 30, ok: 30, compacted: true });
    expect(status.counts.failed).toBe(0);
    expect(b.output.stderr).toContain(`worker: ${killedJob}: mini`);
    expect(b.output.stderr).toContain('aggregated 30 images');
    expect(parent).toMatch(/^aggregate-/);
    const images = await readParquetFile(join(out, 'sweep', 'images.parquet'));
    const names = columnValues<string>(images, 'image');
    expect(new Set(names).size).toBe(30);
    // The same tables as a local sweep, byte for byte.
    for (const t of TABLES) expect(bytes(out, t).equals(bytes(reference, t)), t).toBe(true);
  });

  it('records a job that keeps failing as failed, after its attempts, and still aggregates', async () => {
    const out = join(dir, 'failing');
    const queue = 'failing';
    const w = worker(queue, { NEURONSCOPE_SWEEP_FAIL: 'mini/03\\.png$' });
    const r = cli([
      'sweep',
      ...common,
      '--limit',
      '6',
      '--out',
      out,
      '--queue',
      redis.url,
      '--queue-name',
      queue,
      '--attempts',
      '2',
      '--wait',
      '--json',
    ]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.counts).toMatchObject({ images: 6, ok: 5, failed: 1 });
    const images = await readParquetFile(join(out, 'sweep', 'images.parquet'));
    expect(columnValues<string>(images, 'status')[3]).toBe('failed');
    expect(columnValues<string>(images, 'error')[3]).toMatch(/injected failure/);
    expect(w.output.stderr.match(/job images-\S+ failed: .*injected failure/g)).toHaveLength(2);
  });

  it('records the images of a job that stalled too often as failed, with the reason', async () => {
    const out = join(dir, 'stalled');
    const queue = 'stalled';
    const r = cli([
      ...['sweep', ...common, '--limit', '6', '--out', out, '--no-cache'],
      ...['--queue', redis.url, '--queue-name', queue, '--shard-size', '3'],
    ]);
    expect(r.status).toBe(0);
    const slow = { NEURONSCOPE_SWEEP_DELAY_MS: '300' };
    const a = worker(queue, slow);
    await until(() => /worker: images-\S+: mini/.test(a.output.stderr), 60_000, 'worker A to start a job');
    a.child.kill('SIGKILL');
    await a.exited;
    // A worker that allows no stall: the killed job fails at once instead of being retried.
    const b = spawnCli([
      'worker',
      '--queue',
      redis.url,
      '--queue-name',
      queue,
      '--lock-duration',
      '3000',
      '--stalled-interval',
      '1000',
      '--max-stalled',
      '0',
      '--threads',
      '1',
    ]);
    workers.push(b);
    await until(() => exists(join(out, 'sweep', 'aggregate.json')), 120_000, 'the aggregation');
    const images = await readParquetFile(join(out, 'sweep', 'images.parquet'));
    const status = columnValues<string>(images, 'status');
    expect(status).toHaveLength(6);
    expect(status.filter((s) => s === 'ok').length).toBeGreaterThanOrEqual(3);
    const failed = status.map((s, i) => [s, columnValues<string>(images, 'error')[i]]).filter(([s]) => s === 'failed');
    expect(failed.length).toBeGreaterThan(0);
    for (const [, error] of failed) expect(error).toMatch(/job failed: .*stalled/);
  });

  it('schedules a repeatable sweep that analyses only new or changed images', async () => {
    const queue = 'scheduled';
    const folder = join(dir, 'incoming');
    await mkdir(folder, { recursive: true });
    const pngs = join(reference, 'sweep', 'images', 'mini');
    for (const n of ['00', '01']) await writeFile(join(folder, `${n}.png`), readFileSync(join(pngs, `${n}.png`)));
    const out = join(dir, 'scheduled-out');
    const [, modelPath, , labelsPath] = model;
    const config = join(dir, 'nightly.json');
    await writeFile(
      config,
      JSON.stringify({
        source: folder,
        model: modelPath,
        labels: labelsPath,
        preprocess: { preset: 'none', grayscale: true, size: 28 },
        perturbation: { samples: 8 },
        metrics: { topK: 3 },
        out,
      }),
    );
    const w = worker(queue);
    const add = cli(['schedule', config, '--cron', '*/2 * * * * *', '--queue', redis.url, '--queue-name', queue]);
    expect(add.stderr).toBe('');
    expect(add.stdout).toMatch(/scheduled nightly: \*\/2 \* \* \* \* \*/);
    const list = cli(['schedule', '--list', '--queue', redis.url, '--queue-name', queue, '--json']);
    expect(JSON.parse(list.stdout)).toMatchObject([{ id: 'nightly', pattern: '*/2 * * * * *', config }]);
    await until(
      () => /scheduled sweep .*: 2 new or changed images queued/.test(w.output.stderr),
      60_000,
      'a first run',
    );
    await until(() => exists(join(out, 'sweep', 'images.parquet')), 60_000, 'the first tables');
    await writeFile(join(folder, '02.png'), readFileSync(join(pngs, '02.png')));
    await until(
      () => /scheduled sweep .*: 1 new or changed images queued/.test(w.output.stderr),
      60_000,
      'the new image',
    );
    await until(
      async () => {
        const images = await readParquetFile(join(out, 'sweep', 'images.parquet')).catch(() => null);
        return images?.numRows === 3;
      },
      60_000,
      'the tables with 3 images',
    );
    const removed = cli(['schedule', '--remove', 'nightly', '--queue', redis.url, '--queue-name', queue]);
    expect(removed.stdout).toContain('removed schedule nightly');
    expect(
      JSON.parse(cli(['schedule', '--list', '--queue', redis.url, '--queue-name', queue, '--json']).stdout),
    ).toEqual([]);
    // A worker stops cleanly on SIGTERM.
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });
});
