import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { columnValues, readParquetFile } from '@neuronscope/core';
import { Job, Queue } from 'bullmq';
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
    expect(r.stderr).not.toMatch(/error:/);
    // Finished, with an image it could not analyse: exit code 4, and one line saying so.
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/1 of 6 images could not be analysed \(0 errors, 1 failed\)/);
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

  describe('workers trust no job', () => {
    const queue = 'hostile';
    let out: string;
    let w: ReturnType<typeof spawnCli>;
    let bull: Queue;
    let connection: import('ioredis').Redis;

    /** Adds a job with `data` and waits until it has failed; returns its failure reason. */
    const failedReason = async (name: string, data: unknown): Promise<string> => {
      const job = await bull.add(name, data, { attempts: 1 });
      await until(async () => (await job.getState()) === 'failed', 60_000, `job ${name} to fail`);
      return (await Job.fromId(bull, job.id!))!.failedReason;
    };

    beforeAll(async () => {
      out = join(dir, 'hostile');
      // A planned sweep (local, on its first 3 images) whose folder the hostile jobs name.
      expect(cli(['sweep', ...common, '--limit', '3', '--out', out, '-q']).status).toBe(0);
      w = worker(queue);
      const { Redis } = await import('ioredis');
      connection = new Redis(redis.url, { maxRetriesPerRequest: null });
      bull = new Queue(queue, { connection });
    });
    afterAll(async () => {
      await bull?.close();
      connection?.disconnect();
    });

    it('refuses an output key that is a path, and writes nothing outside the sweep', async () => {
      const settingsKey = JSON.parse(readFileSync(join(out, 'sweep', 'plan.json'), 'utf8')).settingsKey;
      const reason = await failedReason('images', { out, settingsKey, keys: ['../../../../evil/x'] });
      expect(reason).toMatch(/malformed: keys\.0: not a content hash/);
      expect(await exists(join(dir, 'evil'))).toBe(false);
      expect(await exists('/evil')).toBe(false);
    });

    it('refuses an image that is not in the sweep, and any path a job brings with it', async () => {
      const settingsKey = JSON.parse(readFileSync(join(out, 'sweep', 'plan.json'), 'utf8')).settingsKey;
      const unknown = await failedReason('images', { out, settingsKey, keys: ['a'.repeat(64)] });
      expect(unknown).toMatch(/names an image \(aaaaaaaaaaaa\) that is not in the sweep's plan/);
      // The old job format carried paths: a job naming /etc/shadow is malformed, its path never read.
      const item = { image: 'x', source: '/etc/shadow', kind: 'file', path: '/etc/shadow', key: 'b'.repeat(64) };
      const withPath = await failedReason('images', { out, settingsKey, items: [item] });
      expect(withPath).toMatch(/malformed/);
      expect(w.output.stderr).not.toMatch(/worker: \S+: x$/m);
    });

    it('fails a scheduled sweep of a file that is no configuration without quoting the file', async () => {
      const secret = join(dir, 'secret.txt');
      await writeFile(secret, 'root:x:0:0:TOP-SECRET-LINE\n');
      const reason = await failedReason('sweep', { config: secret });
      expect(reason).toMatch(/secret\.txt is not valid JSON/);
      expect(reason).not.toContain('TOP-SECRET');
      expect(reason).not.toContain('root:x');
    });

    it('reports the images a queue lost and enqueues only those again', async () => {
      const lost = join(dir, 'lost');
      const name = 'lost';
      const enqueue = () =>
        cli(['sweep', ...common, '--limit', '6', '--out', lost, '--queue', redis.url, '--queue-name', name]);
      expect(enqueue().stderr).toMatch(/6 to analyse in 6 jobs/);
      // Pending jobs are not enqueued twice.
      expect(enqueue().stderr).toMatch(/0 to analyse in 0 jobs/);
      // Redis loses everything (restarted without persistence): status says so, and a rerun enqueues them again.
      const { Redis } = await import('ioredis');
      const admin = new Redis(redis.url);
      await admin.flushall();
      admin.disconnect();
      const status = cli(['status', '--queue', redis.url, '--queue-name', name, '--out', lost]);
      expect(status.stdout).toMatch(/6 images are not done and no job of the queue will analyse them/);
      expect(enqueue().stderr).toMatch(/6 to analyse in 6 jobs/);
      const json = JSON.parse(
        cli(['status', '--queue', redis.url, '--queue-name', name, '--out', lost, '--json']).stdout,
      );
      expect(json.sweep.lost).toBe(0);
    });
  });
});

describe('a Redis with a password', requires('redis-server'), () => {
  it('takes it from REDIS_URL or a file, and prints it nowhere', async () => {
    const secret = 'Sup3r-s3cret-pass';
    const redis = await startRedis(['--requirepass', secret]);
    const dir = await mkdtemp(join(tmpdir(), 'ns-redis-auth-'));
    try {
      const url = redis.url.replace('redis://', `redis://:${secret}@`);
      const fromEnv = cli(['status', '--queue', '--json'], { REDIS_URL: url });
      expect(fromEnv.status).toBe(0);
      expect(JSON.parse(fromEnv.stdout).queue).toBe('neuronscope');
      await writeFile(join(dir, 'password'), `${secret}\n`);
      const fromFile = cli(['status', '--queue', redis.url, '--queue-password-file', join(dir, 'password')]);
      expect(fromFile.status).toBe(0);
      // A wrong password: a one-line error that names the Redis but not the password.
      const wrong = cli(['status', '--queue', redis.url.replace('redis://', 'redis://:wrong-one@')]);
      expect(wrong.status).not.toBe(0);
      expect(wrong.stderr).toMatch(/cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1/);
      expect(wrong.stderr).toMatch(/password in --queue shows in `ps`/);
      const w = spawnCli(['worker'], { REDIS_URL: url });
      await until(() => w.output.stderr.includes('waiting for jobs'), 30_000, 'the worker');
      w.child.kill('SIGTERM');
      await w.exited;
      for (const text of [
        fromEnv.stdout,
        fromEnv.stderr,
        fromFile.stdout,
        fromFile.stderr,
        wrong.stderr,
        w.output.stderr,
      ]) {
        expect(text).not.toContain(secret);
      }
      expect(w.output.stderr).toContain('redis://:***@127.0.0.1');
    } finally {
      await redis.stop();
    }
  });
});
