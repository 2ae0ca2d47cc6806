/**
 * The report stage: `report.html` of a run folder from `summary.json`, `neurons.parquet` and, for the visual parts,
 * the model graph (receptive fields at each selected neuron's most active unit, from `channel_stats.parquet`),
 * `maps.parquet`, `outputs.parquet` and `activations.parquet`. A part whose inputs are missing is left out with a
 * note saying which stage makes it.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import {
  columnValues,
  type LayerInfo,
  makeDirs,
  numericColumn,
  RUN_METADATA_KEY,
  readDeconvTable,
  readFaithfulnessTable,
  readMapsTable,
  type Summary,
  type Table,
  UserError,
  writeFileAtomic,
} from '@neuronscope/core';
import type { ChannelMetrics } from '@neuronscope/metrics';
import {
  inputToImage,
  type LoadedModel,
  loadModel,
  type ReceptiveField,
  receptiveFields,
  unitBox,
} from '@neuronscope/model';
import {
  type NeuronBox,
  renderFigures,
  renderHtml,
  reportContext,
  stabilityCurve,
  type VisualInput,
} from '@neuronscope/report';
import { atlasLink } from './atlas-link.js';
import { classChannelNames } from './class-names.js';
import { BoxesSchema, type BoxKind, DEFAULTS, parseOptions } from './defaults.js';
import { runFile } from './files.js';
import { selectedNeurons } from './maps.js';
import { readExtracted, readNeurons, readRunConfig, readRunTable, readSummary } from './run-folder.js';

const exists = (path: string) =>
  access(path, constants.R_OK).then(
    () => true,
    () => false,
  );

/** The most active unit on the clean image of every channel, by `layerIndex:channel`, from the channel metrics. */
export function peakUnits(metrics: ChannelMetrics): Map<string, { unit: number; activation: number }> {
  const peaks = new Map<string, { unit: number; activation: number }>();
  for (const l of metrics.layers) {
    for (let c = 0; c < l.channels; c++) {
      peaks.set(`${l.layerIndex}:${c}`, {
        unit: metrics.peakUnit[l.row + c]!,
        activation: metrics.peakValue[l.row + c]!,
      });
    }
  }
  return peaks;
}

/** The run's model, when it can still be read and is unchanged; else a note saying why not. */
async function runModel(summary: Summary): Promise<{ model: LoadedModel | null; note?: string }> {
  const { run } = summary;
  const model = await loadModel(run.model.path).catch(() => null);
  if (!model) return { model: null, note: `No boxes: the model ${run.model.path} could not be read.` };
  if (model.sha256 !== run.model.sha256)
    return { model: null, note: `No boxes: ${run.model.path} changed since the run.` };
  return { model };
}

/** The projections of the run folder (and their boxes on the photo), or a note saying why there are none. */
async function deconvProjections(
  dir: string,
  id: string,
  summary: Summary,
  fieldBoxes: readonly NeuronBox[],
): Promise<{ deconv?: VisualInput['deconv']; boxes?: NeuronBox[]; note?: string }> {
  if (!(await exists(runFile(dir, 'deconv')))) {
    return {
      note: "No deconvnet projections: run 'neuronscope deconv --out <run directory>', then 'neuronscope report'.",
    };
  }
  const { rows, meta } = readDeconvTable(await readRunTable(dir, 'deconv', id, 'deconv'), runFile(dir, 'deconv'));
  const projected = new Set(rows.map((r) => `${r.layerIndex}:${r.channel}`));
  const skipped = new Set(meta.skipped.map((s) => s.layerIndex));
  const missing = selectedNeurons(summary).filter(
    (n) => !projected.has(`${n.layerIndex}:${n.channel}`) && !skipped.has(n.layerIndex),
  ).length;
  const notes = [
    ...(meta.skipped.length
      ? [
          `No projection for ${meta.skipped.length} layer(s): ${meta.skipped[0]!.reason}${meta.skipped.length > 1 ? ', ...' : ''}`,
        ]
      : []),
    ...(missing
      ? [
          `${missing} selected neurons have no projection (the selection changed since the deconv stage): run neuronscope deconv again.`,
        ]
      : []),
  ];
  const fields = new Map(fieldBoxes.map((b) => [`${b.layerIndex}:${b.channel}`, b.field]));
  const layerWidth = new Map(summary.run.layers.map((l) => [l.layerIndex, l.width]));
  const { run } = summary;
  const boxes = rows.flatMap((r): NeuronBox[] => {
    if (!r.box) return [];
    const size: [number, number] = [r.box.bottom - r.box.top + 1, r.box.right - r.box.left + 1];
    const field = fields.get(`${r.layerIndex}:${r.channel}`) ?? { size, jump: [1, 1], global: false };
    const w = layerWidth.get(r.layerIndex) ?? 1;
    const imageRect = inputToImage(r.box, run.preprocessing, run.image.width, run.image.height);
    const { layer, layerIndex, channel, set, activation } = r;
    const unit = { y: Math.floor(r.unit / w), x: r.unit % w };
    return [{ layer, layerIndex, channel, set, activation, kind: 'deconv', unit, field, inputBox: r.box, imageRect }];
  });
  return { deconv: { meta, rows }, boxes, ...(notes.length ? { note: notes.join(' ') } : {}) };
}

/** The receptive-field box of every selected neuron at its most active unit on the clean input. */
function neuronBoxes(
  summary: Summary,
  metrics: ChannelMetrics,
  model: LoadedModel,
): { boxes: NeuronBox[]; note?: string } {
  const { run } = summary;
  const [height, width] = run.preprocessing.size;
  const fields = receptiveFields(model, { height, width, layout: run.preprocessing.layout });
  const peaks = peakUnits(metrics);
  const layers = new Map<string, LayerInfo>(run.layers.map((l) => [l.layer, l]));
  const boxes: NeuronBox[] = [];
  const missing = new Set<string>();
  for (const n of selectedNeurons(summary)) {
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
function outputsByCopy(table: Table): { y: Float64Array; top1: Int32Array } {
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

/** The heat maps of the run folder, or a note saying why there are none. */
async function heatMaps(
  dir: string,
  id: string,
  summary: Summary,
): Promise<{ maps?: VisualInput['maps']; note?: string }> {
  if (!(await exists(runFile(dir, 'maps')))) {
    return { note: "No heat maps: run 'neuronscope maps --out <run directory>', then 'neuronscope report'." };
  }
  const maps = readMapsTable(await readRunTable(dir, 'maps', id, 'maps'), runFile(dir, 'maps'));
  if (maps.meta.target !== summary.target.index)
    return { note: 'The heat maps are from another target class: run neuronscope maps again.' };
  const mapped = new Set(maps.rows.map((r) => `${r.layerIndex}:${r.channel}`));
  const missing = selectedNeurons(summary).filter((n) => !mapped.has(`${n.layerIndex}:${n.channel}`)).length;
  const note =
    missing > 0
      ? `${missing} selected neurons have no heat map (the selection changed since the maps stage): run neuronscope maps again.`
      : undefined;
  return { maps, ...(note ? { note } : {}) };
}

/** The deletion and insertion curves of the run folder, or a note saying why there are none. */
async function faithfulnessCurves(
  dir: string,
  id: string,
  summary: Summary,
): Promise<{ faithfulness?: VisualInput['faithfulness']; note?: string }> {
  if (!(await exists(runFile(dir, 'faithfulness')))) {
    return { note: "No deletion and insertion curves: run 'neuronscope maps --out <run directory>' again." };
  }
  const curves = readFaithfulnessTable(
    await readRunTable(dir, 'faithfulness', id, 'maps'),
    runFile(dir, 'faithfulness'),
  );
  if (curves.meta.target !== summary.target.index)
    return { note: 'The deletion and insertion curves are from another target class: run neuronscope maps again.' };
  return { faithfulness: curves };
}

/** `activations.parquet` of the run folder (checked against the run id), or null when it was not kept. */
async function activationsOf(dir: string, id: string): Promise<Table | null> {
  return (await exists(runFile(dir, 'activations'))) ? readRunTable(dir, 'activations', id, 'extract') : null;
}

/** What the visual report needs from the run folder and the model; see the module comment. */
export async function gatherVisual(
  dir: string,
  id: string,
  summary: Summary,
  metrics: ChannelMetrics,
  outputs: Table,
  opts: { atlas?: string; boxes?: BoxKind; activations?: Table } = {},
): Promise<VisualInput> {
  const notes: Record<string, string> = {};
  const { model, note: modelNote } = await runModel(summary);
  const { boxes, note } = model ? neuronBoxes(summary, metrics, model) : { boxes: undefined, note: modelNote };
  if (note) notes.boxes = note;
  const projections = await deconvProjections(dir, id, summary, boxes ?? []);
  if (projections.note) notes.deconv = projections.note;
  if (opts.boxes === 'deconv' && !projections.deconv) {
    throw new UserError(
      `--boxes deconv: ${runFile(dir, 'deconv')} not found: run 'neuronscope deconv --out ${dir}' first`,
    );
  }
  const names = model
    ? await classChannelNames(model, summary.run.layers, summary.run.preprocessing, summary.run.labels)
    : new Map<number, readonly string[]>();
  const curves = await faithfulnessCurves(dir, id, summary);
  if (curves.note) notes.faithfulness = curves.note;
  const atlas = opts.atlas ? await atlasLink(dir, opts.atlas, summary) : null;
  if (atlas && 'note' in atlas) notes.atlas = atlas.note;
  const [height, width] = summary.run.preprocessing.size;
  const inputRect = inputToImage(
    { top: 0, left: 0, bottom: height - 1, right: width - 1 },
    summary.run.preprocessing,
    summary.run.image.width,
    summary.run.image.height,
  );
  const maps = await heatMaps(dir, id, summary);
  if (maps.note) notes.maps = maps.note;
  const byCopy = outputsByCopy(outputs);
  let stability: VisualInput['stability'];
  const activations = opts.activations ?? (await activationsOf(dir, id));
  if (activations) {
    const table = activations;
    stability = stabilityCurve({
      copy: columnValues<number>(table, 'copy'),
      layerIndex: columnValues<number>(table, 'layer_index'),
      channel: columnValues<number>(table, 'channel'),
      mean: columnValues<number>(table, 'mean'),
      y: byCopy.y,
      layers: summary.run.layers,
      topK: summary.stats.topK,
      eligibility: summary.stats.eligibility,
    });
  } else {
    notes.stability = 'No stability curve: activations.parquet was not kept (see --no-activations).';
  }
  return {
    ...(boxes ? { boxes } : {}),
    ...(projections.deconv ? { deconv: projections.deconv, deconvBoxes: projections.boxes ?? [] } : {}),
    overviewBoxes: opts.boxes ?? DEFAULTS.boxes,
    inputRect,
    ...(maps.maps ? { maps: maps.maps } : {}),
    outputs: byCopy,
    ...(stability ? { stability } : {}),
    ...(curves.faithfulness ? { faithfulness: curves.faithfulness } : {}),
    ...(names.size ? { channelNames: names } : {}),
    ...(atlas && 'link' in atlas ? { atlas: atlas.link } : {}),
    notes,
  };
}

/** Settings of the report stage. */
export interface ReportOptions {
  /** Also write every figure as SVG and PNG into this directory. */
  figures?: string;
  /** A dataset atlas of the same model (its `atlas.html`, or the sweep folder holding it): cards link to it. */
  atlas?: string;
  /** The boxes the overview draws: the receptive fields' (default) or the deconvnet's (needs `deconv.parquet`). */
  boxes?: BoxKind;
  /**
   * The run's `activations.parquet` table, when the caller holds it (`explain` just wrote it): used instead of
   * parsing the file again, after checking that it carries the folder's run id.
   */
  activations?: Table;
}

/** Writes `report.html` of a run folder (and the figures); returns the report's path and the figures written. */
export async function writeReport(
  dir: string,
  opts: ReportOptions = {},
): Promise<{ path: string; figures: number; notes: Readonly<Record<string, string>> }> {
  const { config, id } = await readRunConfig(dir);
  const summary = await readSummary(dir, id);
  const neurons = await readNeurons(dir, id, summary);
  const { metrics, outputs } = await readExtracted(dir, config, id);
  const boxes = parseOptions(BoxesSchema, opts.boxes ?? DEFAULTS.boxes, 'boxes');
  const activations = opts.activations;
  if (activations && activations.schema.metadata.get(RUN_METADATA_KEY) !== id)
    throw new Error('writeReport: the activations table given belongs to another run');
  const visual = await gatherVisual(dir, id, summary, metrics, outputs, {
    boxes,
    ...(activations ? { activations } : {}),
    ...(opts.atlas ? { atlas: opts.atlas } : {}),
  });
  const ctx = await reportContext({ summary, imagePath: summary.run.image.path ?? '', neurons, visual });
  const path = runFile(dir, 'report');
  await writeFileAtomic(path, renderHtml(ctx));
  let figures = 0;
  if (opts.figures) {
    await makeDirs(opts.figures);
    for (const f of await renderFigures(ctx)) {
      await writeFileAtomic(join(opts.figures, `${f.name}.svg`), f.svg);
      await writeFileAtomic(join(opts.figures, `${f.name}.png`), f.png);
      figures++;
    }
  }
  return { path, figures, notes: visual.notes ?? {} };
}
