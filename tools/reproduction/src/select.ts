/**
 * Neuron selection with neuronscope on every checkpoint of a training run and every image of a fixed set (the
 * Fashion-MNIST experiment): the engine's explainer in-process, one per checkpoint, grayscale input
 * without normalisation, all conv layers. Reads DIR/train.json (`fashion.py train`), writes DIR/selections.json.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic } from '@neuronscope/core';
import { createExplainer } from '@neuronscope/engine';
import { type SelectionRun, selectionRun } from './lib.js';

/** `train.json` as `fashion.py train` writes it (the fields used here). */
export interface TrainManifest {
  epochs: { epoch: number; onnx: string; test_acc: number }[];
  images: { file: string; index: number; label: number }[];
}

export interface SelectOptions {
  samples: number;
  seed: number;
  topK: number;
  /** Only checkpoints up to this epoch. */
  maxEpoch?: number;
  /** Input size of the models, [height, width]. */
  size?: [number, number];
  /** Recorded in selections.json. */
  command?: string;
  onEpoch?: (line: string) => void;
}

/** Runs the selection on every (checkpoint, image) pair; returns the path of selections.json. */
export async function selectCheckpoints(dir: string, opts: SelectOptions): Promise<string> {
  const manifest = JSON.parse(await readFile(join(dir, 'train.json'), 'utf8')) as TrainManifest;
  const epochs = manifest.epochs.filter((e) => e.epoch <= (opts.maxEpoch ?? Number.POSITIVE_INFINITY));
  const runs: SelectionRun[] = [];
  const started = performance.now();
  for (const e of epochs) {
    // One file per epoch: a rerun (e.g. while training still adds checkpoints) redoes only what is missing.
    const epochFile = join(dir, 'selections', `epoch-${String(e.epoch).padStart(2, '0')}.json`);
    const settings = {
      samples: opts.samples,
      seed: opts.seed,
      topK: opts.topK,
      onnx: e.onnx,
      images: manifest.images,
    };
    const done = await readFile(epochFile, 'utf8').then(
      (t) => JSON.parse(t) as { settings: unknown; runs: SelectionRun[] },
      () => null,
    );
    if (done && JSON.stringify(done.settings) === JSON.stringify(settings)) {
      runs.push(...done.runs);
      continue;
    }
    const explainer = await createExplainer({
      model: join(dir, e.onnx),
      labels: join(dir, 'labels.txt'),
      preprocess: 'none',
      grayscale: true,
      size: opts.size ?? [28, 28],
      threads: 1,
      cache: false,
    });
    try {
      for (const image of manifest.images) {
        const { summary } = await explainer.explain(join(dir, image.file), {
          samples: opts.samples,
          seed: opts.seed,
          topK: opts.topK,
          keepActivations: false,
        });
        runs.push(selectionRun(e.epoch, image.file, image.label, summary));
      }
    } finally {
      await explainer.close();
    }
    const last = runs.filter((r) => r.epoch === e.epoch);
    await writeJsonAtomic(epochFile, { settings, runs: last });
    const mean = (f: (r: SelectionRun) => number) => last.reduce((s, r) => s + f(r), 0) / last.length;
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    opts.onEpoch?.(
      `epoch ${e.epoch}: ${last.length} images, overlap ${mean((r) => r.overlap).toFixed(3)}, jaccard ${mean((r) => r.jaccard).toFixed(3)} (${seconds} s)`,
    );
  }
  const path = join(dir, 'selections.json');
  await writeJsonAtomic(path, {
    command: opts.command ?? null,
    samples: opts.samples,
    seed: opts.seed,
    topK: opts.topK,
    perturbation: 'paper',
    runs,
  });
  return path;
}
