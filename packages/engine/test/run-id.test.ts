/** The run id (the cache key of an extraction) and where the cache lives. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { RunConfig } from '@neuronscope/core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AnalysisOptionsSchema, createExplainer, defaultCacheDir, defaultModel, runId } from '../src/index.js';

describe('runId', () => {
  let config: RunConfig;

  beforeAll(async () => {
    // A real configuration: the embedded default model on its own sample.
    const explainer = await createExplainer({ cache: false });
    const input = await explainer.load((await defaultModel()).image);
    config = explainer.configFor(input, AnalysisOptionsSchema.parse({ samples: 8, seed: 1 }));
    await explainer.close();
  });

  it('is the same for the same bytes and settings wherever the files are', () => {
    const moved: RunConfig = {
      ...config,
      model: { ...config.model, path: '/elsewhere/model.onnx' },
      image: { ...config.image, path: '/elsewhere/image.png' },
      labels: config.labels ? { ...config.labels, path: '/elsewhere/labels.txt' } : null,
    };
    expect(runId(moved)).toBe(runId(config));
    expect(runId(structuredClone(config))).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with the model or image bytes and with every setting that changes the tables', () => {
    const variants: RunConfig[] = [
      { ...config, model: { ...config.model, sha256: '0'.repeat(64) } },
      { ...config, model: { ...config.model, outputKind: 'sigmoid' } },
      { ...config, image: { ...config.image, sha256: '0'.repeat(64) } },
      { ...config, perturbation: { ...config.perturbation, seed: 2 } },
      { ...config, perturbation: { ...config.perturbation, samples: 9 } },
      { ...config, perturbation: { ...config.perturbation, params: { ...config.perturbation.params, sigma: 0.2 } } },
      { ...config, preprocessing: { ...config.preprocessing, scale: 1 } },
      { ...config, layers: config.layers.slice(1) },
      { ...config, target: 3 },
      { ...config, output: 'logit' },
      { ...config, batchSize: 4 },
    ];
    const keys = new Set([config, ...variants].map(runId));
    expect(keys.size).toBe(variants.length + 1);
  });
});

describe('defaultCacheDir', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('is $NEURONSCOPE_CACHE_DIR, else $XDG_CACHE_HOME/neuronscope, else ~/.cache/neuronscope', () => {
    vi.stubEnv('NEURONSCOPE_CACHE_DIR', '/tmp/ns-own');
    vi.stubEnv('XDG_CACHE_HOME', '/tmp/xdg');
    expect(defaultCacheDir()).toBe('/tmp/ns-own');
    vi.stubEnv('NEURONSCOPE_CACHE_DIR', '');
    expect(defaultCacheDir()).toBe('/tmp/xdg/neuronscope');
    vi.stubEnv('XDG_CACHE_HOME', undefined);
    expect(defaultCacheDir()).toBe(join(homedir(), '.cache', 'neuronscope'));
  });
});
