/**
 * The paper's boxes for the Fashion-MNIST experiment: for every (checkpoint, image) of `selections.json`, every
 * neuron either metric selected is projected onto the image by the engine's deconvnet (`explainer.projector()`,
 * the same code as the deconv stage: one implementation) from its most active unit on the clean image, and the
 * box where its projection is strong is recorded. Writes DIR/deconv-boxes.json, which `fashion.py patches --boxes
 * deconv` crops the patches with. One file per epoch under DIR/deconv-boxes/ makes a rerun redo only what changed.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic } from '@neuronscope/core';
import { createExplainer, DEFAULTS, type DeconvOptions } from '@neuronscope/engine';
import type { SelectionRun } from './lib.js';
import type { TrainManifest } from './select.js';

/** One neuron's deconvnet box: [top, left, bottom, right] (inclusive pixels), null for an all-zero projection. */
export interface NeuronDeconvBox {
  channel: number;
  /** The unit (y · W + x) the projection started from: the channel's most active on the clean image. */
  unit: number;
  activation: number;
  box: [number, number, number, number] | null;
}

/** The boxes of one (epoch, image), per layer. */
export interface DeconvBoxRun {
  epoch: number;
  image: string;
  layers: { layer: string; neurons: NeuronDeconvBox[] }[];
}

export interface DeconvBoxesOptions {
  /** Only checkpoints up to this epoch. */
  maxEpoch?: number;
  /** The deconvnet's settings (the deconv stage's defaults). */
  deconv?: DeconvOptions;
  /** Input size of the models, [height, width]. */
  size?: [number, number];
  /** Recorded in deconv-boxes.json. */
  command?: string;
  onEpoch?: (line: string) => void;
}

/** The channels either metric selected in a layer, correlation's order first. */
const selectedChannels = (l: SelectionRun['layers'][number]) => [
  ...l.byCorrelation,
  ...l.byPrecision.filter((c) => !l.byCorrelation.includes(c)),
];

/** The deconvnet boxes of one epoch's selections (see the module comment). */
async function epochBoxes(
  dir: string,
  onnx: string,
  runs: readonly SelectionRun[],
  opts: DeconvBoxesOptions,
): Promise<DeconvBoxRun[]> {
  const explainer = await createExplainer({
    model: join(dir, onnx),
    labels: join(dir, 'labels.txt'),
    preprocess: 'none',
    grayscale: true,
    size: opts.size ?? [28, 28],
    threads: 1,
    cache: false,
  });
  const projector = explainer.projector(opts.deconv ?? {});
  try {
    const out: DeconvBoxRun[] = [];
    for (const run of runs) {
      const { tensor } = await explainer.load(join(dir, run.image));
      const layers: DeconvBoxRun['layers'] = [];
      for (const l of run.layers) {
        const result = await projector.project(
          tensor,
          l.layer,
          selectedChannels(l).map((channel) => ({ channel })),
        );
        if ('skipped' in result) throw new Error(`${onnx}: ${result.skipped}`);
        const neurons = result.projections.map((p) => ({
          channel: p.channel,
          unit: p.unit!,
          activation: p.activation,
          box: p.box ? ([p.box.top, p.box.left, p.box.bottom, p.box.right] as NeuronDeconvBox['box']) : null,
        }));
        layers.push({ layer: l.layer, neurons });
      }
      out.push({ epoch: run.epoch, image: run.image, layers });
    }
    return out;
  } finally {
    await projector.release();
    await explainer.close();
  }
}

/** Computes the deconvnet boxes of every selection of DIR/selections.json; returns the path of deconv-boxes.json. */
export async function deconvBoxes(dir: string, opts: DeconvBoxesOptions = {}): Promise<string> {
  const manifest = JSON.parse(await readFile(join(dir, 'train.json'), 'utf8')) as TrainManifest;
  const selections = JSON.parse(await readFile(join(dir, 'selections.json'), 'utf8')) as { runs: SelectionRun[] };
  const settings = {
    mode: opts.deconv?.mode ?? DEFAULTS.deconvMode,
    unpool: opts.deconv?.unpool ?? DEFAULTS.deconvUnpool,
    boxThreshold: opts.deconv?.boxThreshold ?? DEFAULTS.boxThreshold,
  };
  const all: DeconvBoxRun[] = [];
  const started = performance.now();
  for (const e of manifest.epochs.filter((x) => x.epoch <= (opts.maxEpoch ?? Number.POSITIVE_INFINITY))) {
    const runs = selections.runs.filter((r) => r.epoch === e.epoch);
    if (runs.length === 0) continue;
    const epochFile = join(dir, 'deconv-boxes', `epoch-${String(e.epoch).padStart(2, '0')}.json`);
    // Redone when the settings or the selections it was computed for changed.
    const key = JSON.stringify({ settings, onnx: e.onnx, runs });
    const done = await readFile(epochFile, 'utf8').then(
      (t) => JSON.parse(t) as { key: string; runs: DeconvBoxRun[] },
      () => null,
    );
    const boxes = done?.key === key ? done.runs : await epochBoxes(dir, e.onnx, runs, opts);
    if (done?.key !== key) await writeJsonAtomic(epochFile, { key, runs: boxes });
    all.push(...boxes);
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    opts.onEpoch?.(
      `epoch ${e.epoch}: ${boxes.length} images${done?.key === key ? ' (done before)' : ''} (${seconds} s)`,
    );
  }
  const path = join(dir, 'deconv-boxes.json');
  await writeJsonAtomic(path, { command: opts.command ?? null, ...settings, runs: all });
  return path;
}
