import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createExplainer,
  DEFAULT_MODEL_DIR,
  defaultModel,
  type Explainer,
  extractStage,
  perturbStage,
  readRun,
  silentLog,
  statsStage,
  writeReport,
  writeRun,
} from '../src/index.js';

const options = { samples: 10, seed: 7, keepActivations: false } as const;
const image = (name: string) => join(DEFAULT_MODEL_DIR, 'images', name);

describe('run folders refuse tables of another run', () => {
  let explainer: Explainer;
  let boot: string;
  let bag: string;
  beforeAll(async () => {
    explainer = await createExplainer({ cache: false });
    boot = await mkdtemp(join(tmpdir(), 'ns-folder-'));
    bag = await mkdtemp(join(tmpdir(), 'ns-folder-'));
    await writeRun(await explainer.explain(image('9-ankle-boot.png'), options), boot);
    await writeRun(await explainer.explain(image('8-bag.png'), options), bag);
  });
  afterAll(() => explainer.close());

  it('reads back its own tables', async () => {
    const run = await readRun(boot);
    expect(run.summary.predictions[0]!.label).toBe('Ankle boot');
  });

  for (const table of ['channel_stats.parquet', 'outputs.parquet']) {
    it(`stats refuses ${table} of another image (a killed rerun over the folder)`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ns-folder-mixed-'));
      for (const f of ['run.json', 'perturbations.parquet', 'outputs.parquet', 'channel_stats.parquet']) {
        await copyFile(join(boot, f), join(dir, f));
      }
      await copyFile(join(bag, table), join(dir, table));
      await expect(statsStage(dir, { topK: 5, eligibility: 0.1 })).rejects.toThrow(
        new RegExp(`${table.replace('.', '\\.')} belongs to another run`),
      );
    });
  }

  it('report refuses a summary of another run, and neurons selected with other settings', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-folder-mixed-'));
    for (const f of [
      'run.json',
      'perturbations.parquet',
      'outputs.parquet',
      'channel_stats.parquet',
      'neurons.parquet',
    ]) {
      await copyFile(join(boot, f), join(dir, f));
    }
    await copyFile(join(bag, 'summary.json'), join(dir, 'summary.json'));
    await expect(writeReport(dir)).rejects.toThrow(/summary\.json describes another run/);
    // A summary of this run whose stats settings differ from those neurons.parquet was selected with.
    const summary = JSON.parse(await readFile(join(boot, 'summary.json'), 'utf8'));
    await writeFile(join(dir, 'summary.json'), JSON.stringify({ ...summary, stats: { ...summary.stats, topK: 3 } }));
    await expect(writeReport(dir)).rejects.toThrow(/other stats settings/);
  });

  it('the report from the activations table in memory is the report read from the folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-folder-activations-'));
    const explanation = await explainer.explain(image('9-ankle-boot.png'), { ...options, keepActivations: true });
    expect(explanation.activations?.numRows).toBeGreaterThan(0);
    await writeRun(explanation, dir);
    await writeReport(dir, { activations: explanation.activations! });
    const fromMemory = await readFile(join(dir, 'report.html'), 'utf8');
    expect(fromMemory).not.toContain('No stability curve');
    await writeReport(dir);
    expect(await readFile(join(dir, 'report.html'), 'utf8')).toBe(fromMemory);
    // A table of another run is refused, not drawn.
    const other = await explainer.explain(image('8-bag.png'), { ...options, keepActivations: true });
    await expect(writeReport(dir, { activations: other.activations! })).rejects.toThrow(/another run/);
  });

  it('a summary saying seed 1 over seed-7 tables is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-folder-seed-'));
    await perturbStage({ out: dir, samples: 10, seed: 1 });
    for (const f of ['outputs.parquet', 'channel_stats.parquet']) await copyFile(join(boot, f), join(dir, f));
    await expect(statsStage(dir, { topK: 5, eligibility: 0.1 })).rejects.toThrow(/belongs to another run/);
  });

  it('the stages one by one give the bytes of one explanation', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-folder-stages-'));
    await perturbStage({ out: dir, image: image('9-ankle-boot.png'), ...options });
    await extractStage(dir, { cache: false, keepActivations: false }, silentLog);
    await statsStage(dir, { topK: 5, eligibility: 0.1 });
    for (const f of ['run.json', 'outputs.parquet', 'channel_stats.parquet', 'neurons.parquet', 'summary.json']) {
      expect(Buffer.compare(await readFile(join(dir, f)), await readFile(join(boot, f))), f).toBe(0);
    }
    expect((await defaultModel()).image).toBe(image('9-ankle-boot.png'));
  });
});
