import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { columnValues, type LayerInfo, numericColumn, readParquetFile, type Summary } from '@neuronscope/core';
import { inputToImage, loadModel, type ReceptiveField, receptiveFields, unitBox } from '@neuronscope/model';
import { type NeuronBox, stabilityCurve, type VisualInput } from '@neuronscope/report';
import type { Log } from '../log.js';
import { runFile } from './files.js';
import { readMaps, selectedNeurons } from './maps.js';

const exists = (path: string) =>
  access(path, constants.R_OK).then(
    () => true,
    () => false,
  );

/** The unit of highest clean activation of each wanted (layer index, channel), from `unit_stats.parquet`'s shift. */
export function peakUnits(
  unitStats: Parameters<typeof numericColumn>[0],
  wanted: ReadonlySet<string>,
): Map<string, { unit: number; activation: number }> {
  const layerIndex = columnValues<number>(unitStats, 'layer_index');
  const channel = columnValues<number>(unitStats, 'channel');
  const unit = columnValues<number>(unitStats, 'unit');
  const shift = columnValues<number>(unitStats, 'shift');
  // Numeric keys: the table has a row per unit (millions), so no string is built per row.
  const numeric = new Set<number>();
  for (const key of wanted) {
    const [l, c] = key.split(':').map(Number) as [number, number];
    numeric.add(l * 65536 + c);
  }
  const best = new Map<number, { unit: number; activation: number }>();
  for (let i = 0; i < shift.length; i++) {
    const key = layerIndex[i]! * 65536 + channel[i]!;
    if (!numeric.has(key)) continue;
    const current = best.get(key);
    const a = shift[i]!;
    if (!current || a > current.activation || (a === current.activation && unit[i]! < current.unit)) {
      best.set(key, { unit: unit[i]!, activation: a });
    }
  }
  return new Map([...best].map(([k, v]) => [`${Math.floor(k / 65536)}:${k % 65536}`, v]));
}

/** The receptive-field box of every selected neuron at its most active unit on the clean input. */
async function neuronBoxes(dir: string, summary: Summary): Promise<{ boxes?: NeuronBox[]; note?: string }> {
  const { run } = summary;
  const model = await loadModel(run.model.path).catch(() => null);
  if (!model) return { note: `No boxes: the model ${run.model.path} could not be read.` };
  if (model.sha256 !== run.model.sha256) return { note: `No boxes: ${run.model.path} changed since the run.` };
  if (!(await exists(runFile(dir, 'unitStats')))) return { note: 'No boxes: unit_stats.parquet is missing.' };
  const [height, width] = run.preprocessing.size;
  const fields = receptiveFields(model, { height, width, layout: run.preprocessing.layout });
  const neurons = selectedNeurons(summary);
  const peaks = peakUnits(
    await readParquetFile(runFile(dir, 'unitStats')),
    new Set(neurons.map((n) => `${n.layerIndex}:${n.channel}`)),
  );
  const layers = new Map<string, LayerInfo>(run.layers.map((l) => [l.layer, l]));
  const boxes: NeuronBox[] = [];
  const missing = new Set<string>();
  for (const n of neurons) {
    const field: ReceptiveField | undefined = fields.get(n.layer);
    const layer = layers.get(n.layer);
    const peak = peaks.get(`${n.layerIndex}:${n.channel}`);
    if (!field || !layer || !peak) {
      missing.add(n.layer);
      continue;
    }
    const y = Math.floor(peak.unit / layer.width);
    const x = peak.unit % layer.width;
    const inputBox = unitBox(field, y, x, height, width);
    boxes.push({
      layer: n.layer,
      layerIndex: n.layerIndex,
      channel: n.channel,
      set: n.set,
      unit: { y, x },
      activation: peak.activation,
      field: {
        size: [field.rows.size, field.cols.size],
        jump: [field.rows.jump, field.cols.jump],
        global: field.global,
      },
      inputBox,
      imageRect: inputToImage(inputBox, run.preprocessing, run.image.width, run.image.height),
    });
  }
  const note =
    missing.size > 0
      ? `No receptive field for ${missing.size} layer(s) (an operator on their path is not supported): ${[...missing].slice(0, 3).join(', ')}`
      : undefined;
  return { boxes, ...(note ? { note } : {}) };
}

/** The output y and top-1 of every copy, in copy order. */
async function outputsByCopy(dir: string): Promise<{ y: Float64Array; top1: Int32Array } | null> {
  if (!(await exists(runFile(dir, 'outputs')))) return null;
  const table = await readParquetFile(runFile(dir, 'outputs'));
  const copy = columnValues<number>(table, 'copy');
  const yCol = numericColumn(table, 'y');
  const top1Col = columnValues<number>(table, 'top1');
  const y = new Float64Array(copy.length);
  const top1 = new Int32Array(copy.length);
  for (let i = 0; i < copy.length; i++) {
    y[copy[i]!] = yCol[i]!;
    top1[copy[i]!] = top1Col[i]!;
  }
  return { y, top1 };
}

/**
 * What the visual report needs from the run directory and the model: boxes (model graph + unit_stats.parquet),
 * heat maps (maps.parquet), the output over the copies (outputs.parquet) and the stability of the selections
 * (activations.parquet). A part whose inputs are missing is left out with a note.
 */
export async function gatherVisual(dir: string, summary: Summary, log?: Log): Promise<VisualInput> {
  const notes: Record<string, string> = {};
  const started = performance.now();
  const { boxes, note } = await neuronBoxes(dir, summary);
  if (note) notes.boxes = note;
  const [height, width] = summary.run.preprocessing.size;
  const inputRect = inputToImage(
    { top: 0, left: 0, bottom: height - 1, right: width - 1 },
    summary.run.preprocessing,
    summary.run.image.width,
    summary.run.image.height,
  );
  const maps = await readMaps(dir);
  if (!maps) notes.maps = "No heat maps: run 'neuronscope maps --out <run directory>', then 'neuronscope report'.";
  else if (maps.meta.target !== summary.target.index) {
    notes.maps = 'The heat maps are from another target class: run neuronscope maps again.';
  } else {
    const mapped = new Set(maps.rows.map((r) => `${r.layerIndex}:${r.channel}`));
    const missing = selectedNeurons(summary).filter((n) => !mapped.has(`${n.layerIndex}:${n.channel}`)).length;
    if (missing > 0) {
      notes.maps = `${missing} selected neurons have no heat map (the selection changed since the maps stage): run neuronscope maps again.`;
    }
  }
  const outputs = await outputsByCopy(dir);
  if (!outputs) notes.outputs = 'No output distribution: outputs.parquet is missing.';
  let stability: VisualInput['stability'];
  if (outputs && (await exists(runFile(dir, 'activations')))) {
    const table = await readParquetFile(runFile(dir, 'activations'));
    stability = stabilityCurve({
      copy: columnValues<number>(table, 'copy'),
      layerIndex: columnValues<number>(table, 'layer_index'),
      channel: columnValues<number>(table, 'channel'),
      mean: columnValues<number>(table, 'mean'),
      y: outputs.y,
      layers: summary.run.layers,
      topK: summary.stats.topK,
      eligibility: summary.stats.eligibility,
    });
  } else {
    notes.stability = 'No stability curve: activations.parquet or outputs.parquet is missing.';
  }
  log?.info(`report: gathered boxes, maps and tables in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return {
    ...(boxes ? { boxes } : {}),
    inputRect,
    ...(maps && maps.meta.target === summary.target.index ? { maps } : {}),
    ...(outputs ? { outputs } : {}),
    ...(stability ? { stability } : {}),
    notes,
  };
}
