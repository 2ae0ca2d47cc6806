import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readParquetFile, type Summary } from '@neuronscope/core';
import { describe, expect, it } from 'vitest';
import { cli, sample } from './helpers.js';

/** The embedded default model (no --model) on one of its samples. */
const common = [
  '--image',
  sample('2-pullover.png'),
  '--layers',
  '0-2',
  '--seed',
  '5',
  '--masks',
  '0',
  '--no-cache',
  '--json',
];

describe('extraction workers and --samples auto (the embedded default model)', () => {
  it('gives the same tables with one worker of 2 threads as with two of 1 thread', async () => {
    const one = await mkdtemp(join(tmpdir(), 'ns-workers-'));
    const two = await mkdtemp(join(tmpdir(), 'ns-workers-'));
    const a = cli(['explain', ...common, '--samples', '16', '--workers', '1', '--threads', '2', '--out', one]);
    expect(a.stderr).not.toMatch(/error/);
    expect(a.status).toBe(0);
    const b = cli(['explain', ...common, '--samples', '16', '--workers', '2', '--threads', '1', '--out', two]);
    expect(b.status).toBe(0);
    expect((JSON.parse(b.stdout) as Summary).samplesUsed).toBe(16);
    // deconv.parquet too: its layers ran on one worker in turn, or on two side by side.
    const tables = ['neurons.parquet', 'channel_stats.parquet', 'activations.parquet', 'outputs.parquet'];
    for (const f of [...tables, 'deconv.parquet']) {
      expect(Buffer.compare(await readFile(join(one, f)), await readFile(join(two, f))), f).toBe(0);
    }
  });

  it('--samples auto stops by the rule or at --max-samples and records how many copies it used', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-auto-'));
    const r = cli([
      'explain',
      ...common,
      '--samples',
      'auto',
      '--max-samples',
      '72',
      '--stop-agreement',
      '0.5',
      '--out',
      dir,
    ]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/--samples auto: (stable after \d+|not stable at the maximum)/);
    const summary = JSON.parse(r.stdout) as Summary;
    expect(summary.run.perturbation.samples).toBe(72);
    expect(summary.run.perturbation.auto).toEqual({ topK: 5, eligibility: 0.1, agreement: 0.5 });
    const used = summary.samplesUsed!;
    expect(used).toBeGreaterThanOrEqual(48);
    expect(used).toBeLessThanOrEqual(72);
    expect((await readParquetFile(join(dir, 'outputs.parquet'))).numRows).toBe(used);
    const written = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as Summary;
    expect(written.samplesUsed).toBe(used);
  });

  it('rejects a bad --samples', () => {
    const r = cli(['explain', ...common, '--samples', 'many', '--out', join(tmpdir(), 'ns-never')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/samples/);
  });
});
