/**
 * `sweep/report.html`: the dataset-level answers in the per-image report's style (rendered by
 * `@neuronscope/report`'s `renderSweepPage`), from the sweep's files: `aggregate.json`, the images' parts, the plan
 * (for the image files, as thumbnails), and `atlas.json` when an atlas was made (neurons then link to it). Written
 * at the end of every aggregation, and again by `neuronscope atlas`.
 */
import { readFile } from 'node:fs/promises';
import { AtlasIndexSchema, readParquetFile, type Table, writeFileAtomic } from '@neuronscope/core';
import { classChannelNames } from '@neuronscope/engine';
import { loadModel } from '@neuronscope/model';
import { renderSweepPage, type SweepImage, type SweepPageInput } from '@neuronscope/report';
import type { AggregateResult } from './aggregate.js';
import { datasetImages, imageFacts } from './atlas.js';
import { type ImageRow, readPart } from './parts.js';
import { readManifest, readPlan, type SweepManifest, type SweepPaths } from './plan.js';

/** Thumbnails in the report at most (the first images of the plan); the atlas shows any image a neuron needs. */
export const MAX_THUMBNAILS = 240;
/** Longest side of a thumbnail. */
const THUMBNAIL_SIDE = 128;
/** The deepest layers whose selections each image's entry lists. */
const LISTED_LAYERS = 2;

/** What `aggregate.json` holds (non-finite numbers are stored as null). */
export type AggregateJson = Pick<AggregateResult, 'counts' | 'classes' | 'topSelective'> & {
  comparison: AggregateResult['rows'];
  minSupport?: number;
};

/** `null` back to NaN in an interval (JSON has no NaN). */
const interval = (v: { mean: number | null; low: number | null; high: number | null }) => ({
  mean: v.mean ?? Number.NaN,
  low: v.low ?? Number.NaN,
  high: v.high ?? Number.NaN,
});

/** The settings line of the report. */
function settingsLine(m: SweepManifest): string {
  const s = m.settings;
  const target = s.target.mode === 'class' ? `class ${s.target.class}` : s.target.mode;
  return (
    `${s.perturbation.family} perturbation, N = ${s.perturbation.samples}, seed ${s.perturbation.seed}; ` +
    `top-${s.stats.topK} per layer, eligibility ${s.stats.eligibility}; target: ${target}; ${s.layers.length} layers`
  );
}

/** The selected neurons of an image's deepest layers, from its part. */
function selectedOf(neurons: Table, layers: SweepManifest['settings']['layers']): SweepImage['selected'] {
  const deepest = [...layers].sort((a, b) => b.layerIndex - a.layerIndex).slice(0, LISTED_LAYERS);
  const layerIndex = neurons.getChild('layer_index')!.toArray() as Int32Array;
  const channel = neurons.getChild('channel')!.toArray() as Int32Array;
  const selC = neurons.getChild('selected_correlation')!;
  const selP = neurons.getChild('selected_precision')!;
  return deepest.map((l) => {
    const correlation: number[] = [];
    const precision: number[] = [];
    for (let i = 0; i < neurons.numRows; i++) {
      if (layerIndex[i] !== l.layerIndex) continue;
      if (selC.get(i)) correlation.push(channel[i]!);
      if (selP.get(i)) precision.push(channel[i]!);
    }
    return { layer: l.layer, layerIndex: l.layerIndex, correlation, precision };
  });
}

/** The atlas link of the sweep, when `atlas.json` is there and of this model. */
async function atlasOf(paths: SweepPaths, manifest: SweepManifest): Promise<SweepPageInput['atlas']> {
  const text = await readFile(paths.atlasIndex, 'utf8').catch(() => null);
  if (text === null) return null;
  const parsed = AtlasIndexSchema.safeParse(JSON.parse(text));
  if (!parsed.success || parsed.data.model.sha256 !== manifest.settings.model.sha256) return null;
  return { href: parsed.data.page, neurons: new Set(parsed.data.neurons.map(([l, c]) => `${l}:${c}`)) };
}

/** Class labels of the class layers, or none when the model cannot be read any more. */
async function channelNamesOf(manifest: SweepManifest) {
  const { model: m, layers, preprocessing, labels } = manifest.settings;
  const model = await loadModel(m.path).catch(() => null);
  if (!model || model.sha256 !== m.sha256) return new Map<number, readonly string[]>();
  return classChannelNames(model, layers, preprocessing, labels);
}

/** The images of the report: thumbnails of the first analysed ones, their facts and selections. */
async function reportImages(paths: SweepPaths, manifest: SweepManifest) {
  const plan = await readPlan(paths);
  const shown: { position: number; selected: SweepImage['selected']; row: ImageRow }[] = [];
  for (const [position, item] of plan.items.entries()) {
    if (shown.length >= MAX_THUMBNAILS) break;
    const part = await readPart(paths, item.key);
    if (part?.row.status === 'ok') {
      shown.push({ position, row: part.row, selected: selectedOf(part.neurons, manifest.settings.layers) });
    }
  }
  const facts = new Map(shown.map((s) => [s.position, imageFacts(s.row)]));
  const pictures = await datasetImages(
    paths,
    plan.items,
    shown.map((s) => s.position),
    facts,
    THUMBNAIL_SIDE,
  );
  const images: SweepImage[] = pictures.map((im, i) => {
    const { row, selected } = shown[i]!;
    return {
      ...im,
      target: row.target_name ?? (row.target === null ? null : String(row.target)),
      targetProbability: row.target_probability,
      copiesKeepingTarget: row.copies_keeping_target,
      selected,
    };
  });
  return images;
}

/** The images that were not analysed, from `images.parquet` (which also holds those whose job failed without a part). */
async function notAnalysed(paths: SweepPaths): Promise<SweepPageInput['failed']> {
  const table = await readParquetFile(paths.imagesTable);
  const values = (name: string) => [...(table.getChild(name) ?? [])] as (string | null)[];
  const [image, status, error] = [values('image'), values('status'), values('error')];
  return image.flatMap((name, i) =>
    status[i] === 'ok' ? [] : [{ name: name ?? '', status: status[i] ?? '', error: error[i] ?? null }],
  );
}

/** Writes `sweep/report.html` from the sweep's files; see the module comment. */
export async function writeSweepReport(paths: SweepPaths): Promise<string> {
  const manifest = await readManifest(paths);
  const json = JSON.parse(await readFile(paths.aggregateJson, 'utf8')) as AggregateJson;
  const images = await reportImages(paths, manifest);
  const input: SweepPageInput = {
    model: { name: manifest.settings.model.path.split(/[\\/]/).pop() ?? '', sha256: manifest.settings.model.sha256 },
    settings: settingsLine(manifest),
    counts: json.counts,
    rows: json.comparison.map((r) => ({
      ...r,
      correlation: interval(r.correlation),
      precision: interval(r.precision),
      difference: interval(r.difference),
      baseline: r.baseline ?? Number.NaN,
      precisionHigher: r.precisionHigher ?? Number.NaN,
    })),
    classes: json.classes,
    topSelective: json.topSelective.map((n) => ({ ...n, auroc: n.auroc ?? Number.NaN })),
    minSupport: json.minSupport ?? 5,
    images,
    failed: await notAnalysed(paths),
    atlas: await atlasOf(paths, manifest),
    channelNames: await channelNamesOf(manifest),
  };
  await writeFileAtomic(paths.report, await renderSweepPage(input));
  return paths.report;
}
