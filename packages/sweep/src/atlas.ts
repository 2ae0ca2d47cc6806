/**
 * The atlas of a sweep (`neuronscope atlas`): for every neuron some image selected, its top images by peak
 * activation, each cropped to the receptive field of its most active unit, beside how both metrics treated it
 * across the images. Computed from the sweep's tables (each image's part, in plan order: the rows of
 * `neurons.parquet`, with `peak_unit` and `peak_value`) and `selectivity.parquet`; the network is not run again.
 * Memory is flat in the number of images: one part at a time, a top list of a few images per neuron.
 */
import { readFile } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import {
  ATLAS_FORMAT,
  type AtlasIndex,
  columnValues,
  type LayerInfo,
  readParquetFile,
  UserError,
  writeFileAtomic,
  writeJsonAtomic,
} from '@neuronscope/core';
import { classChannelNames } from '@neuronscope/engine';
import { inputToImage, type LoadedModel, loadModel, receptiveFields, unitBox } from '@neuronscope/model';
import {
  type AtlasInput,
  type AtlasLayer,
  type AtlasNeuron,
  type DatasetImage,
  renderAtlas,
  thumbnail,
} from '@neuronscope/report';
import { MIN_SUPPORT } from './aggregate.js';
import { readPart } from './parts.js';
import { imageFileFor, type PlanItem, readManifest, readPlan, type SweepManifest, type SweepPaths } from './plan.js';

/** Top images per neuron (default). */
export const ATLAS_TOP = 6;
/** Longest side of an embedded photo: enough for a crop of a quarter of it to stay sharp in a tile. */
const PICTURE_SIDE = 320;

/** Settings of {@link writeAtlas}. */
export interface AtlasOptions {
  /** Top images per neuron. */
  top?: number;
  /** Images a class needs before a neuron's selectivity for it is shown. */
  minSupport?: number;
}

/** Per-neuron running totals over the images, and each neuron's top images so far. */
class NeuronTotals {
  readonly selC: Int32Array;
  readonly selP: Int32Array;
  readonly corrSum: Float64Array;
  readonly corrN: Int32Array;
  readonly logPrecSum: Float64Array;
  readonly precN: Int32Array;
  readonly eligibleN: Int32Array;
  /** [neuron * top + k]: peak value, image (position in the plan), peak unit; `filled` entries per neuron. */
  readonly topValue: Float32Array;
  readonly topImage: Int32Array;
  readonly topUnit: Int32Array;
  readonly filled: Int32Array;

  constructor(
    readonly rows: number,
    readonly top: number,
  ) {
    this.selC = new Int32Array(rows);
    this.selP = new Int32Array(rows);
    this.corrSum = new Float64Array(rows);
    this.corrN = new Int32Array(rows);
    this.logPrecSum = new Float64Array(rows);
    this.precN = new Int32Array(rows);
    this.eligibleN = new Int32Array(rows);
    this.topValue = new Float32Array(rows * top);
    this.topImage = new Int32Array(rows * top);
    this.topUnit = new Int32Array(rows * top);
    this.filled = new Int32Array(rows);
  }

  /** Keeps (value, image, unit) among the neuron's top when it beats the weakest; earlier images win ties. */
  offer(r: number, value: number, image: number, unit: number): void {
    if (!(value > 0)) return;
    const base = r * this.top;
    const n = this.filled[r]!;
    if (n < this.top) {
      this.topValue[base + n] = value;
      this.topImage[base + n] = image;
      this.topUnit[base + n] = unit;
      this.filled[r] = n + 1;
      return;
    }
    let weakest = base;
    for (let k = base + 1; k < base + this.top; k++) if (this.topValue[k]! < this.topValue[weakest]!) weakest = k;
    if (value > this.topValue[weakest]!) {
      this.topValue[weakest] = value;
      this.topImage[weakest] = image;
      this.topUnit[weakest] = unit;
    }
  }

  /** The neuron's top entries, strongest first (ties: the earlier image first). */
  topOf(r: number): { value: number; image: number; unit: number }[] {
    const base = r * this.top;
    return Array.from({ length: this.filled[r]! }, (_, k) => ({
      value: this.topValue[base + k]!,
      image: this.topImage[base + k]!,
      unit: this.topUnit[base + k]!,
    })).sort((a, b) => b.value - a.value || a.image - b.image);
  }
}

/** Adds one image's neuron rows to the totals. */
function addImage(t: NeuronTotals, position: number, neurons: Awaited<ReturnType<typeof readPart>>): void {
  if (neurons?.row.status !== 'ok') return;
  const table = neurons.neurons;
  if (table.numRows !== t.rows)
    throw new UserError(`image ${neurons.row.image} has ${table.numRows} neuron rows, not ${t.rows}`);
  const corr = columnValues<number>(table, 'correlation');
  const prec = columnValues<number>(table, 'precision');
  const eligible = columnValues<boolean>(table, 'eligible');
  const selC = columnValues<boolean>(table, 'selected_correlation');
  const selP = columnValues<boolean>(table, 'selected_precision');
  const peakUnit = columnValues<number>(table, 'peak_unit');
  const peakValue = columnValues<number>(table, 'peak_value');
  for (let r = 0; r < t.rows; r++) {
    if (selC[r]) t.selC[r]!++;
    if (selP[r]) t.selP[r]!++;
    if (Number.isFinite(corr[r]!)) {
      t.corrSum[r]! += corr[r]!;
      t.corrN[r]!++;
    }
    if (eligible[r]) {
      t.eligibleN[r]!++;
      if (prec[r]! > 0 && Number.isFinite(prec[r]!)) {
        t.logPrecSum[r]! += Math.log(prec[r]!);
        t.precN[r]!++;
      }
    }
    t.offer(r, peakValue[r]!, position, peakUnit[r]!);
  }
}

/** Per neuron row, its best class by AUROC among classes with the support (from `selectivity.parquet`). */
async function bestClasses(paths: SweepPaths, layers: readonly LayerInfo[], minSupport: number) {
  const table = await readParquetFile(paths.selectivity);
  const offsets = new Map<number, number>();
  let at = 0;
  for (const l of layers) {
    offsets.set(l.layerIndex, at);
    at += l.channels;
  }
  const layerIndex = columnValues<number>(table, 'layer_index');
  const channel = columnValues<number>(table, 'channel');
  const name = [...(table.getChild('class_name') ?? [])] as (string | null)[];
  const cls = columnValues<number>(table, 'class');
  const positives = columnValues<number>(table, 'positives');
  const negatives = columnValues<number>(table, 'negatives');
  const auroc = columnValues<number>(table, 'auroc');
  const best = new Map<number, { name: string; auroc: number; images: number }>();
  for (let i = 0; i < table.numRows; i++) {
    if (positives[i]! < minSupport || negatives[i]! < minSupport || !Number.isFinite(auroc[i]!)) continue;
    const r = offsets.get(layerIndex[i]!)! + channel[i]!;
    const current = best.get(r);
    if (!current || auroc[i]! > current.auroc)
      best.set(r, { name: name[i] ?? String(cls[i]), auroc: auroc[i]!, images: positives[i]! });
  }
  return best;
}

/** The model of the sweep, checked to be the one it ran. */
async function sweepModel(manifest: SweepManifest): Promise<LoadedModel> {
  const { path, sha256 } = manifest.settings.model;
  const model = await loadModel(path).catch(() => {
    throw new UserError(`the sweep's model ${path} cannot be read: the atlas needs it for the receptive fields`);
  });
  if (model.sha256 !== sha256) throw new UserError(`${path} changed since the sweep ran`);
  return model;
}

/** The images of the plan that the atlas shows, as dataset images (thumbnail, label, prediction, file link). */
export async function datasetImages(
  paths: SweepPaths,
  items: readonly PlanItem[],
  positions: readonly number[],
  rows: ReadonlyMap<
    number,
    { label: string | null; prediction: string | null; probability: number | null; correct: boolean | null }
  >,
  side = PICTURE_SIDE,
): Promise<DatasetImage[]> {
  const images: DatasetImage[] = [];
  for (const p of positions) {
    const item = items[p]!;
    const file = await imageFileFor(paths, item).catch(() => null);
    // An image file gone since the sweep (or unreadable) is left out of the pages, not an error.
    const bytes = file ? await readFile(file).catch(() => null) : null;
    const picture = bytes ? await thumbnail(bytes, side).catch(() => null) : null;
    if (!file || !picture) continue;
    const facts = rows.get(p) ?? { label: item.labelName, prediction: null, probability: null, correct: null };
    const href = encodeURI(relative(paths.dir, file).split(sep).join('/'));
    images.push({ index: p, name: item.image, ...facts, href, picture });
  }
  return images;
}

/** The images row facts by plan position, from each image's part (label, prediction, whether they agree). */
export function imageFacts(row: {
  label: number | null;
  label_name: string | null;
  prediction: number | null;
  prediction_name: string | null;
  probability: number | null;
}) {
  return {
    label: row.label_name ?? (row.label === null ? null : String(row.label)),
    prediction: row.prediction_name ?? (row.prediction === null ? null : String(row.prediction)),
    probability: row.probability,
    correct: row.label === null || row.prediction === null ? null : row.label === row.prediction,
  };
}

/** Computes the atlas of a finished sweep: the page's input and the index; see the module comment. */
export async function computeAtlas(
  paths: SweepPaths,
  opts: AtlasOptions = {},
): Promise<{ input: AtlasInput; index: AtlasIndex }> {
  const top = opts.top ?? ATLAS_TOP;
  const minSupport = opts.minSupport ?? MIN_SUPPORT;
  const manifest = await readManifest(paths);
  const plan = await readPlan(paths);
  const layers = manifest.settings.layers;
  const rowsPerImage = layers.reduce((n, l) => n + l.channels, 0);
  const totals = new NeuronTotals(rowsPerImage, top);
  const facts = new Map<number, ReturnType<typeof imageFacts>>();
  let analysed = 0;
  for (const [position, item] of plan.items.entries()) {
    const part = await readPart(paths, item.key);
    if (!part) throw new UserError(`${item.image} has no result: finish the sweep (or aggregate it) first`);
    if (part.row.status !== 'ok') continue;
    analysed++;
    facts.set(position, imageFacts(part.row));
    addImage(totals, position, part);
  }
  if (analysed === 0) throw new UserError('no analysed image in this sweep: nothing to show');
  const model = await sweepModel(manifest);
  const best = await bestClasses(paths, layers, minSupport);
  const names = await classChannelNames(model, layers, manifest.settings.preprocessing, manifest.settings.labels);
  const entries = atlasLayers(manifest, model, totals, best, names, analysed);
  const used = [...new Set(entries.flatMap((l) => l.neurons.flatMap((n) => n.pending.map((e) => e.image))))].sort(
    (a, b) => a - b,
  );
  const images = await datasetImages(paths, plan.items, used, facts);
  const withRects = placeExamples(manifest, model, entries, images, facts);
  const input: AtlasInput = {
    model: { name: manifest.settings.model.path.split(/[\\/]/).pop() ?? '', sha256: manifest.settings.model.sha256 },
    analysed,
    top,
    minSupport,
    layers: withRects,
    images,
    reportHref: 'report.html',
  };
  const index: AtlasIndex = {
    version: ATLAS_FORMAT,
    model: { path: manifest.settings.model.path, sha256: manifest.settings.model.sha256 },
    layers: layers.map((l) => ({ layer: l.layer, layerIndex: l.layerIndex })),
    page: 'atlas.html',
    images: analysed,
    neurons: withRects.flatMap((l) => l.neurons.map((n) => [l.layerIndex, n.channel] as [number, number])),
  };
  return { input, index };
}

/** Computes the atlas of a finished sweep and writes `atlas.html` and `atlas.json` beside its tables. */
export async function writeAtlas(
  paths: SweepPaths,
  opts: AtlasOptions = {},
): Promise<{ path: string; neurons: number; images: number }> {
  const { input, index } = await computeAtlas(paths, opts);
  await writeFileAtomic(paths.atlas, renderAtlas(input));
  await writeJsonAtomic(paths.atlasIndex, index);
  return { path: paths.atlas, neurons: index.neurons.length, images: index.images };
}

/** An example before its crop is known: the image and the unit. */
type PendingExample = { image: number; activation: number; unit: number };

/** The layers and their neurons with an entry (selected by some image), examples still as units. */
function atlasLayers(
  manifest: SweepManifest,
  model: LoadedModel,
  t: NeuronTotals,
  best: Map<number, { name: string; auroc: number; images: number }>,
  names: Map<number, readonly string[]>,
  analysed: number,
): (Omit<AtlasLayer, 'neurons'> & { neurons: (Omit<AtlasNeuron, 'examples'> & { pending: PendingExample[] })[] })[] {
  const [height, width] = manifest.settings.preprocessing.size;
  const fields = receptiveFields(model, { height, width, layout: manifest.settings.preprocessing.layout });
  let offset = 0;
  return manifest.settings.layers.map((l) => {
    const field = fields.get(l.layer);
    const start = offset;
    offset += l.channels;
    const neurons = Array.from({ length: l.channels }, (_, c) => start + c)
      .filter((r) => t.selC[r]! + t.selP[r]! > 0)
      .sort(
        (a, b) =>
          Math.max(t.selC[b]!, t.selP[b]!) - Math.max(t.selC[a]!, t.selP[a]!) ||
          t.selC[b]! + t.selP[b]! - (t.selC[a]! + t.selP[a]!) ||
          a - b,
      )
      .map((r) => ({
        layerIndex: l.layerIndex,
        channel: r - start,
        label: names.get(l.layerIndex)?.[r - start] ?? null,
        selectedCorrelation: t.selC[r]!,
        selectedPrecision: t.selP[r]!,
        meanCorrelation: t.corrN[r]! ? t.corrSum[r]! / t.corrN[r]! : null,
        precision: t.precN[r]! ? Math.exp(t.logPrecSum[r]! / t.precN[r]!) : null,
        eligibleShare: t.eligibleN[r]! / analysed,
        bestClass: best.get(r) ?? null,
        commonLabel: null,
        pending: t.topOf(r).map((e) => ({ image: e.image, activation: e.value, unit: e.unit })),
      }));
    return {
      layer: l.layer,
      layerIndex: l.layerIndex,
      channels: l.channels,
      field: field ? { size: [field.rows.size, field.cols.size] as const, global: field.global } : null,
      neurons,
    };
  });
}

/** Each example's crop (the field of its unit mapped onto the image) and each neuron's commonest top label. */
function placeExamples(
  manifest: SweepManifest,
  model: LoadedModel,
  layers: ReturnType<typeof atlasLayers>,
  images: readonly DatasetImage[],
  facts: Map<number, ReturnType<typeof imageFacts>>,
): AtlasLayer[] {
  const pre = manifest.settings.preprocessing;
  const [height, width] = pre.size;
  const fields = receptiveFields(model, { height, width, layout: pre.layout });
  const byIndex = new Map(images.map((im) => [im.index, im]));
  const info = new Map(manifest.settings.layers.map((l) => [l.layerIndex, l]));
  return layers.map((l) => {
    const field = fields.get(l.layer);
    const layer = info.get(l.layerIndex)!;
    const neurons: AtlasNeuron[] = l.neurons.map(({ pending, ...n }) => {
      const examples = field
        ? pending.flatMap((e) => {
            const im = byIndex.get(e.image);
            if (!im) return [];
            const box = unitBox(field, Math.floor(e.unit / layer.width), e.unit % layer.width, height, width);
            const rect = inputToImage(box, pre, im.picture.originalWidth, im.picture.originalHeight);
            return [{ image: e.image, rect, activation: e.activation }];
          })
        : [];
      const labels = new Map<string, number>();
      for (const e of pending) {
        const name = facts.get(e.image)?.label;
        if (name) labels.set(name, (labels.get(name) ?? 0) + 1);
      }
      const [common] = [...labels].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
      return { ...n, examples, commonLabel: common && common[1] >= 2 ? { name: common[0], images: common[1] } : null };
    });
    return { ...l, neurons };
  });
}
