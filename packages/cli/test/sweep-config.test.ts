/** `sweepConfigOf` (packages/cli/src/commands/sweep.ts): a sweep configuration file with the flags laid over it. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { UserError } from '@neuronscope/core';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addSweepOptions, sweepConfigOf } from '../src/commands/sweep.js';

/** Parses `args` as `neuronscope sweep` does and merges them with the configuration file they name, if any. */
function configOf(args: string[]) {
  const cmd = addSweepOptions(new Command('sweep').argument('[config]')).exitOverride();
  cmd.parse(args, { from: 'user' });
  return sweepConfigOf(cmd.args[0], cmd.opts(), cmd);
}

describe('sweepConfigOf', () => {
  it('builds the configuration from flags alone, paths made absolute, unset flags left out', async () => {
    const config = await configOf([
      '--source',
      'imgs',
      '--model',
      'm.onnx',
      '-n',
      '12',
      '--seed',
      '4',
      '-k',
      '3',
      '--grayscale',
      '--size',
      '28',
    ]);
    expect(config).toEqual({
      source: resolve('imgs'),
      model: resolve('m.onnx'),
      preprocess: { size: [28, 28], grayscale: true },
      perturbation: { samples: 12, seed: 4, params: {} },
      metrics: { topK: 3 },
    });
  });

  it('lays the flags over the file: flag values win, the file fills the rest, parameters merge', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-sweep-config-'));
    const file = join(dir, 'sweep.yaml');
    await writeFile(
      file,
      [
        'source: images',
        'model: model.onnx',
        'out: results',
        'preprocess: { preset: none, grayscale: true, size: 28 }',
        'perturbation: { family: gaussian, samples: 5, seed: 3, params: { sigma: 0.2, keep: 1 } }',
        'metrics: { topK: 2, eligibility: 0.3 }',
        'target: label',
        'cache: true',
      ].join('\n'),
    );
    const flags = [
      '-n',
      '7',
      '--sigma',
      '0.5',
      '--param',
      'grid=4',
      '-k',
      '4',
      '--preprocess',
      'imagenet',
      '--no-cache',
    ];
    const config = await configOf([file, ...flags]);
    expect(config).toMatchObject({
      // From the file, its relative paths resolved against the file's folder.
      source: join(dir, 'images'),
      model: join(dir, 'model.onnx'),
      out: join(dir, 'results'),
      target: 'label',
      // Flags over the file, field by field.
      preprocess: { preset: 'imagenet', grayscale: true, size: 28 },
      perturbation: { family: 'gaussian', samples: 7, seed: 3, params: { sigma: 0.5, keep: 1, grid: 4 } },
      metrics: { topK: 4, eligibility: 0.3 },
      cache: false,
    });
    // --source replaces the file's source; a flag left at its default (cache) does not override the file.
    const other = await configOf([file, '--source', join(dir, 'other')]);
    expect(other.source).toBe(join(dir, 'other'));
    expect(other.cache).toBe(true);
    expect(other.perturbation).toEqual({ family: 'gaussian', samples: 5, seed: 3, params: { sigma: 0.2, keep: 1 } });
  });

  it('needs a configuration file or --source', async () => {
    const error = await configOf(['-n', '8']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toBe('give a sweep configuration file or --source');
  });
});
