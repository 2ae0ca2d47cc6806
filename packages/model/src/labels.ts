/**
 * Class labels: reading a labels file (UTF-8, or UTF-16 with a byte-order mark), checking it against the model's
 * number of outputs (with an optional leading background class that the file leaves out), and finding a class
 * from what a user types (an index, or any comma-separated synonym of a line).
 */
import { readFile } from 'node:fs/promises';
import { UserError } from '@neuronscope/core';
import * as ort from 'onnxruntime-node';
import type { LoadedModel } from './load.js';
import { createSession } from './session.js';

/** The text of a labels file: UTF-8 (a BOM is dropped) or UTF-16 LE/BE with a BOM. Anything else is a UserError. */
export function decodeLabelsText(bytes: Uint8Array, path: string): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    // Swapped to little-endian: Node decodes utf-16le everywhere, utf-16be only with full ICU.
    const swapped = new Uint8Array(bytes.length - 2 - (bytes.length % 2));
    for (let i = 0; i < swapped.length; i += 2) {
      swapped[i] = bytes[i + 3]!;
      swapped[i + 1] = bytes[i + 2]!;
    }
    return new TextDecoder('utf-16le').decode(swapped);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes); // drops a UTF-8 BOM
  } catch {
    throw new UserError(`labels file ${path} is not UTF-8 text (nor UTF-16 with a byte-order mark)`);
  }
  if (text.includes('\u0000')) {
    throw new UserError(`labels file ${path} has NUL bytes: UTF-16 without a byte-order mark? Save it as UTF-8`);
  }
  return text;
}

/**
 * Class labels, one per line (LF, CRLF or CR), line i naming class i. Trailing empty lines are ignored and
 * surrounding whitespace is trimmed. UTF-8, or UTF-16 with a byte-order mark. A missing or empty file, or one in
 * another encoding, is a {@link UserError}.
 */
export async function loadLabels(path: string): Promise<string[]> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`labels file not found: ${path}`);
    throw new UserError(`cannot read labels ${path}: ${code ?? (err as Error).message}`);
  }
  const labels = decodeLabelsText(bytes, path)
    .split(/\r\n|\r|\n/)
    .map((line) => line.trim());
  while (labels.length > 0 && labels[labels.length - 1] === '') labels.pop();
  if (labels.length === 0) throw new UserError(`labels file ${path} is empty`);
  return labels;
}

/** The fixed number of values per image of a graph output's dims ([N, C] or [N, C, 1, 1]); null when any is symbolic. */
function staticClassCount(dims: readonly (number | null)[] | null | undefined): number | null {
  if (!dims || dims.length < 2) return null;
  const rest = dims.slice(1);
  return rest.every((d) => d !== null) ? (rest as number[]).reduce((a, b) => a * b, 1) : null;
}

/**
 * The model's number of outputs (classes): from the static shape of its first graph output when every dim but the
 * batch is known, else by one inference on zeros of `inputDims` (batch included).
 */
export async function modelClassCount(
  model: Pick<LoadedModel, 'bytes' | 'path' | 'inputName' | 'outputName' | 'graph'>,
  inputDims: readonly number[],
): Promise<number> {
  const declared = staticClassCount(model.graph.outputs.find((o) => o.name === model.outputName)?.dims);
  if (declared !== null) return declared;
  const session = await createSession(model.bytes, { modelPath: model.path });
  try {
    const size = inputDims.reduce((a, b) => a * b, 1);
    const input = new ort.Tensor('float32', new Float32Array(size), [...inputDims]);
    const out = await session.run({ [model.inputName]: input }, [model.outputName]);
    return (out[model.outputName]?.data.length ?? 0) / (inputDims[0] ?? 1);
  } finally {
    await session.release();
  }
}

/** Where the labels come from and how they line up with the model's outputs. */
export interface AlignLabelsOptions {
  /** Output 0 is a background class the file does not list: line i names output i + 1 (`--background`). */
  readonly background?: boolean;
  readonly labelsPath: string;
  readonly modelPath: string;
}

/**
 * One label per model output: the file's lines as they are, or with `background`, 'background' for output 0
 * followed by the lines. A count that does not match is a {@link UserError} naming both counts and saying how to
 * declare (or drop) the background class. MobileNetV2 (TF-slim) has 1001 outputs with 0 = background: use it with the
 * 1000-line ImageNet file and `background`, or with a 1001-line file without.
 */
export function alignLabels(labels: readonly string[], classCount: number, opts: AlignLabelsOptions): string[] {
  const lines = `${labels.length} line${labels.length === 1 ? '' : 's'}`;
  const outputs = `model ${opts.modelPath} has ${classCount} output${classCount === 1 ? '' : 's'}`;
  if (opts.background) {
    if (labels.length === classCount - 1) return ['background', ...labels];
    const hint =
      labels.length === classCount
        ? `; drop --background, the file already names output 0 ('${labels[0]}')`
        : `; give one line per output after output 0`;
    throw new UserError(
      `labels file ${opts.labelsPath} has ${lines} but ${outputs}: with --background (output 0 = background) it needs ${classCount - 1}${hint}`,
    );
  }
  if (labels.length === classCount) return [...labels];
  const hint =
    labels.length === classCount - 1
      ? `; if output 0 is a background class the file leaves out, pass --background (labelsOffset 1: line i names output i + 1)`
      : `; give one line per output, or pass --background if output 0 is a background class the file leaves out`;
  throw new UserError(`labels file ${opts.labelsPath} has ${lines} but ${outputs}${hint}`);
}

/** A class found from user text, or why not (with the closest labels as suggestions). */
export type ClassLookup =
  | { readonly index: number; readonly message: null; readonly suggestions: readonly string[] }
  | { readonly index: null; readonly message: string; readonly suggestions: readonly string[] };

/** Lower case, trimmed, inner whitespace runs made one space. */
const normalise = (s: string) => s.trim().toLowerCase().replace(/\s+/g, ' ');

/** The synonyms of a label line: its comma-separated names, normalised. */
const synonyms = (line: string) =>
  line
    .split(',')
    .map(normalise)
    .filter((s) => s !== '');

/** Levenshtein distance (insert, delete, substitute; each 1). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length]!;
}

/**
 * Up to `count` labels close to `query`, as `'synonym' (index)`: synonyms that start with it (or that it starts
 * with) first, then those within an edit distance of max(2, a third of its length), nearest first.
 */
function closestLabels(query: string, labels: readonly string[], count = 3): string[] {
  const limit = Math.max(2, Math.floor(query.length / 3));
  const scored: { score: number; text: string }[] = [];
  labels.forEach((line, index) => {
    let best: { score: number; text: string } | null = null;
    for (const name of synonyms(line)) {
      const prefix = name.startsWith(query) || query.startsWith(name);
      const score = prefix ? Math.abs(name.length - query.length) / 1000 : editDistance(query, name);
      if (score <= limit && (!best || score < best.score)) best = { score, text: `'${name}' (${index})` };
    }
    if (best) scored.push(best);
  });
  return scored
    .sort((a, b) => a.score - b.score)
    .slice(0, count)
    .map((s) => s.text);
}

/** `'a', 'b' or 'c'`. */
const orList = (items: readonly string[]) =>
  items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;

/**
 * The class that `text` names, without throwing: a class index (checked against the labels, or `classCount` when
 * there are none), or a label: a whole line or any of its comma-separated synonyms, case-insensitive, whitespace
 * trimmed (`hotdog`, `Hot Dog` and `red hot` all name "hotdog, hot dog, red hot"). A whole-line match wins over a
 * synonym; a name shared by several lines is ambiguous. When nothing matches, `message` says why and
 * `suggestions` lists the closest labels.
 */
export function findClass(text: string, labels: readonly string[] | null, classCount?: number): ClassLookup {
  const fail = (message: string, suggestions: readonly string[] = []): ClassLookup => ({
    index: null,
    message,
    suggestions,
  });
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) {
    const index = Number(trimmed);
    const count = labels?.length ?? classCount;
    if (count !== undefined && index >= count) {
      return fail(`class ${index} is out of range: the model has ${count} classes (0 to ${count - 1})`);
    }
    return { index, message: null, suggestions: [] };
  }
  if (!labels) return fail(`'${trimmed}' is a label, but no labels file was given`);
  const query = normalise(trimmed);
  if (query === '') return fail('empty class name');
  const lines = labels.map((line, index) => ({ index, whole: normalise(line), names: synonyms(line) }));
  for (const matches of [lines.filter((l) => l.whole === query), lines.filter((l) => l.names.includes(query))]) {
    if (matches.length === 1) return { index: matches[0]!.index, message: null, suggestions: [] };
    if (matches.length > 1) {
      const which = matches.map((m) => `${m.index} '${labels[m.index]}'`).join(', ');
      return fail(`'${trimmed}' names several classes (${which}); give the index`);
    }
  }
  const suggestions = closestLabels(query, labels);
  const hint = suggestions.length > 0 ? `; did you mean ${orList(suggestions)}?` : '';
  return fail(`unknown class '${trimmed}' (not in the labels file)${hint}`, suggestions);
}

/**
 * The class index that `text` names (see {@link findClass}); a {@link UserError} starting with `what` (e.g.
 * `--target`) when it names none, with "did you mean ..." suggestions.
 */
export function resolveClass(
  text: string,
  labels: readonly string[] | null,
  opts: { classCount?: number; what?: string } = {},
): number {
  const found = findClass(text, labels, opts.classCount);
  if (found.index !== null) return found.index;
  throw new UserError(opts.what ? `${opts.what}: ${found.message}` : found.message);
}
