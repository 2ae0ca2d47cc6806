import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { UserError } from '@neuronscope/core';
import { type SourceConfig, sourceFromString } from './config.js';
import { idxLabelsPathFor, idxStem, readIdxImages, readIdxLabels } from './idx.js';

/** One image of a sweep, before anything is read from it. */
export interface SweepItem {
  /** Its name in the tables: unique within the sweep, and the sort key. */
  readonly image: string;
  /** Where it comes from: the file path, or `<idx file>#<index>`. */
  readonly source: string;
  readonly kind: 'file' | 'idx';
  /** The image file, or the IDX file. */
  readonly path: string;
  /** Image index within the IDX file. */
  readonly index?: number;
  /** The label as the source gives it (a class index or a class name), or null. */
  readonly label: string | null;
}

/** A resolved source: its kind, its absolute path, and the slice taken. */
export interface ResolvedSource {
  readonly kind: 'folder' | 'glob' | 'manifest' | 'idx';
  readonly path: string;
  readonly idxLabels?: string | null;
  readonly offset: number;
  readonly limit: number | null;
}

/** File extensions of a folder source: what the image decoder reads. */
const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp|gif|tiff?|avif|heic|heif)$/i;

const exists = (path: string) =>
  stat(path).then(
    (s) => s,
    () => null,
  );

/** Turns a source given as a string or an object into a {@link ResolvedSource} with absolute paths. */
export async function resolveSource(source: string | SourceConfig, base = process.cwd()): Promise<ResolvedSource> {
  let config: SourceConfig;
  if (typeof source === 'string') {
    const path = resolve(base, source);
    config = sourceFromString(path, (await exists(path))?.isDirectory() ?? false);
  } else config = source;
  const offset = config.offset ?? 0;
  const limit = config.limit ?? null;
  if (config.folder) return { kind: 'folder', path: resolve(base, config.folder), offset, limit };
  if (config.glob) return { kind: 'glob', path: resolve(base, config.glob), offset, limit };
  if (config.manifest) return { kind: 'manifest', path: resolve(base, config.manifest), offset, limit };
  const idx = resolve(base, config.idx!);
  let idxLabels: string | null = config.idxLabels ? resolve(base, config.idxLabels) : null;
  if (!idxLabels) {
    const beside = idxLabelsPathFor(idx);
    if (beside && (await exists(beside))) idxLabels = beside;
  }
  return { kind: 'idx', path: idx, idxLabels, offset, limit };
}

/** Every file under `dir` (recursively, hidden entries skipped), as paths relative to `dir` with `/`. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (rel: string) => {
    const entries = await readdir(join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await visit(child);
      else if (e.isFile() || e.isSymbolicLink()) out.push(child);
    }
  };
  await visit('');
  return out;
}

/** A glob (`*`, `**`, `?`, `[...]`, `{a,b}`) as a regular expression over `/`-separated relative paths. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const slash = glob[i + 2] === '/';
        re += slash ? '(?:[^/]*(?:/|$))*' : '.*';
        i += slash ? 2 : 1;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        const body = glob
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\');
        re += `[${body}]`;
        i = end;
      }
    } else if (c === '{') {
      const end = glob.indexOf('}', i + 1);
      if (end < 0) re += '\\{';
      else {
        re += `(?:${glob
          .slice(i + 1, end)
          .split(',')
          .map((alt) => globToRegExp(alt).source.slice(1, -1))
          .join('|')})`;
        i = end;
      }
    } else re += /[.+^$()|\\]/.test(c) ? `\\${c}` : c;
  }
  return new RegExp(`^${re}$`);
}

/** The directory part of a glob before its first wildcard, and the rest. */
function splitGlob(pattern: string): { base: string; rest: string } {
  const parts = pattern.split(sep === '\\' ? /[\\/]/ : '/');
  const first = parts.findIndex((p) => /[*?[{]/.test(p));
  if (first < 0) return { base: dirname(pattern), rest: parts.at(-1)! };
  return { base: parts.slice(0, first).join('/') || '/', rest: parts.slice(first).join('/') };
}

function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else cell += c;
  }
  cells.push(cell);
  return cells.map((s) => s.trim());
}

/** The entries of a CSV or JSONL manifest: a path (relative to the manifest) and an optional label. */
async function readManifest(path: string): Promise<{ path: string; label: string | null }[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UserError(`manifest not found: ${path}`);
  }
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .map((l, i) => ({ l, n: i + 1 }))
    .filter(({ l }) => l.trim() !== '');
  const entries: { path: string; label: string | null }[] = [];
  if (/\.csv$/i.test(path)) {
    const head = lines.shift();
    const columns = head ? splitCsvLine(head.l).map((c) => c.toLowerCase()) : [];
    const p = columns.indexOf('path');
    const l = columns.indexOf('label');
    if (p < 0) throw new UserError(`${path}: the first line must be a header with a 'path' column (and 'label')`);
    for (const { l: line, n } of lines) {
      const cells = splitCsvLine(line);
      const file = cells[p];
      if (!file) throw new UserError(`${path}:${n}: no path`);
      const label = l >= 0 ? cells[l] : undefined;
      entries.push({ path: file, label: label === undefined || label === '' ? null : label });
    }
  } else {
    for (const { l: line, n } of lines) {
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch {
        throw new UserError(`${path}:${n}: not a JSON object`);
      }
      const r = row as { path?: unknown; label?: unknown };
      if (typeof row !== 'object' || row === null || typeof r.path !== 'string' || r.path === '') {
        throw new UserError(`${path}:${n}: needs a "path" string`);
      }
      const label = r.label === undefined || r.label === null ? null : String(r.label);
      entries.push({ path: r.path, label });
    }
  }
  return entries;
}

/**
 * The images of a source, sorted by name (byte order), sliced by offset and limit. Names are unique: a manifest
 * that lists a path twice is an error. Nothing is decoded here.
 */
export async function listItems(source: ResolvedSource): Promise<SweepItem[]> {
  let items: SweepItem[];
  switch (source.kind) {
    case 'folder': {
      if (!(await exists(source.path))?.isDirectory()) throw new UserError(`image folder not found: ${source.path}`);
      items = (await walk(source.path))
        .filter((f) => IMAGE_EXTENSIONS.test(f))
        .map((f) => ({
          image: f,
          source: join(source.path, f),
          kind: 'file',
          path: join(source.path, f),
          label: null,
        }));
      break;
    }
    case 'glob': {
      const { base, rest } = splitGlob(source.path);
      if (!(await exists(base))?.isDirectory()) throw new UserError(`glob ${source.path}: folder ${base} not found`);
      const re = globToRegExp(rest);
      items = (await walk(base))
        .filter((f) => re.test(f))
        .map((f) => ({ image: f, source: join(base, f), kind: 'file', path: join(base, f), label: null }));
      break;
    }
    case 'manifest': {
      const dir = dirname(source.path);
      items = (await readManifest(source.path)).map((e) => {
        const path = isAbsolute(e.path) ? e.path : resolve(dir, e.path);
        return { image: e.path.split(sep).join('/'), source: path, kind: 'file', path, label: e.label };
      });
      break;
    }
    case 'idx': {
      const images = await readIdxImages(source.path);
      const labels = source.idxLabels ? await readIdxLabels(source.idxLabels) : null;
      if (labels && labels.length !== images.count) {
        throw new UserError(`${source.idxLabels} has ${labels.length} labels for ${images.count} images`);
      }
      const stem = idxStem(source.path);
      const digits = String(Math.max(images.count - 1, 0)).length;
      items = Array.from({ length: images.count }, (_, i) => ({
        image: `${stem}:${String(i).padStart(digits, '0')}`,
        source: `${source.path}#${i}`,
        kind: 'idx' as const,
        path: source.path,
        index: i,
        label: labels ? String(labels[i]) : null,
      }));
      break;
    }
  }
  items.sort((a, b) => (a.image < b.image ? -1 : a.image > b.image ? 1 : 0));
  for (let i = 1; i < items.length; i++) {
    if (items[i]!.image === items[i - 1]!.image) throw new UserError(`image ${items[i]!.image} is listed twice`);
  }
  const end = source.limit === null ? undefined : source.offset + source.limit;
  const sliced = items.slice(source.offset, end);
  if (sliced.length === 0) throw new UserError(`the source ${source.path} holds no images`);
  return sliced;
}

/** `path` relative to `base` with `/`, for display. */
export const displayPath = (path: string, base = process.cwd()) => relative(base, path).split(sep).join('/') || '.';
