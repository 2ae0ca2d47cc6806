import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  canonicalJson,
  makeDirs,
  sha256,
  sha256File,
  UserError,
  writeFileAtomic,
  writeJsonAtomic,
} from '@neuronscope/core';
import type { Analyser, AnalysisOptions, AnalysisSettings } from './analyse.js';
import { type IdxImages, readIdxImages } from './idx.js';
import { encodePng } from './png.js';
import { listItems, type ResolvedSource, type SweepItem } from './source.js';

/** One image of a sweep with the key of its result and its label resolved. */
export interface PlanItem extends SweepItem {
  /** Content key: hash of the analysis settings, the image name, the image bytes and the label. */
  readonly key: string;
  /** Class index of the label (null: no label, or a name the labels file does not have). */
  readonly labelIndex: number | null;
  readonly labelName: string | null;
}

/** The images of a sweep, in order, with their keys: `sweep/plan.json`. */
export interface Plan {
  readonly version: 1;
  readonly settingsKey: string;
  readonly items: PlanItem[];
}

/** `sweep/sweep.json`: the resolved configuration, from which any worker rebuilds the analysis. */
export interface SweepManifest {
  readonly version: 1;
  readonly analysis: AnalysisOptions;
  readonly source: ResolvedSource;
  readonly settingsKey: string;
  readonly settings: AnalysisSettings;
}

/**
 * Files and folders of a sweep directory: `<out>/sweep/`, or `out` itself when it already is one (it holds
 * `sweep.json`: the path `sweep` prints can be given back as `--out`).
 */
export function sweepPaths(out: string) {
  const dir =
    existsSync(join(out, 'sweep.json')) && !existsSync(join(out, 'sweep', 'sweep.json')) ? out : join(out, 'sweep');
  return {
    dir,
    manifest: join(dir, 'sweep.json'),
    plan: join(dir, 'plan.json'),
    parts: join(dir, 'parts'),
    images: join(dir, 'images'),
    neurons: join(dir, 'neurons.parquet'),
    imagesTable: join(dir, 'images.parquet'),
    aggregate: join(dir, 'aggregate.parquet'),
    selection: join(dir, 'selection.parquet'),
    selectivity: join(dir, 'selectivity.parquet'),
    aggregateJson: join(dir, 'aggregate.json'),
    report: join(dir, 'report.html'),
    atlas: join(dir, 'atlas.html'),
    atlasIndex: join(dir, 'atlas.json'),
    part: (key: string) => join(dir, 'parts', `${key}.parquet`),
  };
}
export type SweepPaths = ReturnType<typeof sweepPaths>;

const idxCache = new Map<string, Promise<IdxImages>>();
/** An IDX image file, parsed once per process. */
export function idxImages(path: string): Promise<IdxImages> {
  let p = idxCache.get(path);
  if (!p) {
    p = readIdxImages(path);
    p.catch(() => idxCache.delete(path));
    idxCache.set(path, p);
  }
  return p;
}

async function contentHash(item: SweepItem): Promise<string> {
  if (item.kind === 'idx') return sha256((await idxImages(item.path)).image(item.index!));
  try {
    return await sha256File(item.path);
  } catch {
    return 'unreadable';
  }
}

/** Lists the source and keys every image (reading each file once to hash it). */
export async function buildPlan(
  source: ResolvedSource,
  analyser: Pick<Analyser, 'settingsKey' | 'classOf' | 'labels'>,
) {
  const items = await listItems(source);
  const planned: PlanItem[] = [];
  for (const item of items) {
    const content = await contentHash(item);
    const labelIndex = analyser.classOf(item.label);
    const labelName = labelIndex !== null ? (analyser.labels?.[labelIndex] ?? null) : item.label;
    const key = sha256(
      canonicalJson({ settings: analyser.settingsKey, image: item.image, content, label: item.label }),
    );
    planned.push({ ...item, key, labelIndex, labelName });
  }
  const plan: Plan = { version: 1, settingsKey: analyser.settingsKey, items: planned };
  return plan;
}

/** Hash of a plan: names the aggregation it leads to. */
export const planHash = (plan: Plan) => sha256(canonicalJson(plan.items.map((i) => [i.image, i.key])));

export async function writePlan(paths: SweepPaths, plan: Plan): Promise<void> {
  await writeJsonAtomic(paths.plan, plan);
}

export async function readJson<T>(path: string, what: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UserError(`${path} not found: ${what}`);
  }
  return JSON.parse(text) as T;
}

export const readPlan = (paths: SweepPaths) =>
  readJson<Plan>(paths.plan, "run 'neuronscope sweep' with this --out first");
export const readManifest = (paths: SweepPaths) =>
  readJson<SweepManifest>(paths.manifest, "run 'neuronscope sweep' with this --out first");

/**
 * The image file to analyse for `item`: the file itself, or for an IDX image a lossless PNG of its pixels written
 * once into `sweep/images/` (the same bytes every time, so the spine's cache keys stay stable).
 */
export async function imageFileFor(paths: SweepPaths, item: SweepItem): Promise<string> {
  if (item.kind === 'file') return item.path;
  const [stem, index] = item.image.split(':') as [string, string];
  const file = join(paths.images, stem, `${index}.png`);
  const present = await stat(file).then(
    () => true,
    () => false,
  );
  if (!present) {
    const idx = await idxImages(item.path);
    await makeDirs(join(paths.images, stem));
    await writeFileAtomic(file, encodePng(idx.image(item.index!), idx.cols, idx.rows, 1));
  }
  return file;
}
