import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { OutputModeSchema, UserError } from '@neuronscope/core';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** Where the images of a sweep come from; exactly one of folder, glob, manifest and idx. */
export const SourceConfigSchema = z
  .object({
    /** A folder, searched recursively for image files. */
    folder: z.string().min(1).optional(),
    /** A glob such as `photos/**\/*.jpg` (`*`, `**`, `?`, `[...]`, `{a,b}`). */
    glob: z.string().min(1).optional(),
    /** A CSV (header with `path` and optionally `label`) or JSONL (`{"path": ..., "label": ...}`) file. */
    manifest: z.string().min(1).optional(),
    /** An IDX image file (magic 2051, optionally gzipped), e.g. Fashion-MNIST's `t10k-images-idx3-ubyte.gz`. */
    idx: z.string().min(1).optional(),
    /** The IDX label file (default: the `labels-idx1-ubyte` file beside the images, when present). */
    idxLabels: z.string().min(1).optional(),
    /** Skip this many images of the (sorted) source. */
    offset: z.number().int().min(0).optional(),
    /** Take at most this many images. */
    limit: z.number().int().min(1).optional(),
  })
  .strict()
  .refine((s) => [s.folder, s.glob, s.manifest, s.idx].filter((v) => v !== undefined).length === 1, {
    message: 'a source needs exactly one of folder, glob, manifest, idx',
  });
export type SourceConfig = z.infer<typeof SourceConfigSchema>;

const size = z.union([
  z.number().int().positive(),
  z.tuple([z.number().int().positive(), z.number().int().positive()]),
]);

/** A sweep configuration file (JSON or YAML). Relative paths are relative to the file. */
export const SweepConfigSchema = z
  .object({
    /** A source object, or a string: a folder, a glob, a `.csv`/`.jsonl` manifest or an IDX file. */
    source: z.union([z.string().min(1), SourceConfigSchema]),
    /** Output directory (the tables go to `<out>/sweep/`). */
    out: z.string().min(1).optional(),
    /** ONNX model (default: the embedded Fashion-MNIST model) and its labels. */
    model: z.string().min(1).optional(),
    labels: z.string().min(1).optional(),
    preprocess: z
      .object({
        preset: z.enum(['imagenet', 'inception', 'caffe', 'none']).optional(),
        size: size.optional(),
        mean: z.array(z.number()).min(1).optional(),
        std: z.array(z.number().positive()).min(1).optional(),
        layout: z.enum(['NCHW', 'NHWC']).optional(),
        grayscale: z.boolean().optional(),
        channelOrder: z.enum(['RGB', 'BGR']).optional(),
      })
      .strict()
      .optional(),
    /** Output 0 is a background class the labels file leaves out. */
    background: z.boolean().optional(),
    /** Layers to record: names, globs, indices, ranges (as `--layers`); all when absent. */
    layers: z.union([z.string().min(1), z.array(z.union([z.string(), z.number().int().min(0)])).min(1)]).optional(),
    perturbation: z
      .object({
        family: z.string().min(1).optional(),
        samples: z.number().int().min(3).optional(),
        seed: z.number().int().min(0).max(0xffffffff).optional(),
        params: z.record(z.string(), z.unknown()).optional(),
      })
      .strict()
      .optional(),
    /** `prediction` (the clean top-1, default), `label` (the image's label), or one class (index or label). */
    target: z.union([z.string().min(1), z.number().int().min(0)]).optional(),
    output: OutputModeSchema.optional(),
    batchSize: z.number().int().positive().optional(),
    /** Selection settings of the metrics. */
    metrics: z
      .object({ topK: z.number().int().positive().optional(), eligibility: z.number().optional() })
      .strict()
      .optional(),
    /** Reuse and fill the activation-table cache (default true), and where it is. */
    cache: z.boolean().optional(),
    cacheDir: z.string().min(1).optional(),
    /** Queue mode: images per job, and attempts of a job before it is recorded as failed. */
    shardSize: z.number().int().positive().optional(),
    attempts: z.number().int().positive().optional(),
  })
  .strict();
export type SweepConfig = z.infer<typeof SweepConfigSchema>;

/** Reads and validates a sweep configuration (`.yaml`/`.yml` as YAML, anything else as JSON). */
export async function loadSweepConfig(path: string): Promise<SweepConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UserError(`sweep configuration not found: ${path}`);
  }
  let raw: unknown;
  const yaml = /\.ya?ml$/i.test(path);
  try {
    raw = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    // Where, never what: the parsers' messages quote the text, which may be any file a job names.
    const at = yaml
      ? (err as { linePos?: { line: number }[] }).linePos?.[0]?.line
      : /position (\d+)/.exec((err as Error).message)?.[1];
    const where = at === undefined ? '' : yaml ? ` (line ${at})` : ` (at character ${at})`;
    throw new UserError(`${path} is not valid ${yaml ? 'YAML' : 'JSON'}${where}`);
  }
  const parsed = SweepConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    // zod's messages name keys and types, not values; the first line only.
    throw new UserError(`${path}: invalid sweep configuration: ${where}${issue?.message.split('\n')[0]}`);
  }
  return rebasePaths(parsed.data, dirname(resolve(path)));
}

const rebase = (base: string, p: string | undefined) => (p === undefined || isAbsolute(p) ? p : resolve(base, p));

/** The configuration with its relative paths made absolute against `base`. */
export function rebasePaths(config: SweepConfig, base: string): SweepConfig {
  const source =
    typeof config.source === 'string'
      ? rebase(base, config.source)!
      : {
          ...config.source,
          folder: rebase(base, config.source.folder),
          glob: rebase(base, config.source.glob),
          manifest: rebase(base, config.source.manifest),
          idx: rebase(base, config.source.idx),
          idxLabels: rebase(base, config.source.idxLabels),
        };
  return {
    ...config,
    source:
      typeof source === 'string'
        ? source
        : (Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined)) as SourceConfig),
    out: rebase(base, config.out),
    model: rebase(base, config.model),
    labels: rebase(base, config.labels),
    cacheDir: rebase(base, config.cacheDir),
  };
}

/** A source given as one string: a folder, a glob, a manifest (`.csv`, `.jsonl`) or an IDX file. */
export function sourceFromString(value: string, isDirectory: boolean): SourceConfig {
  if (isDirectory) return { folder: value };
  if (/[*?[{]/.test(value)) return { glob: value };
  if (/\.(csv|jsonl|ndjson)$/i.test(value)) return { manifest: value };
  if (/idx\d-ubyte(\.gz)?$/i.test(value)) return { idx: value };
  throw new UserError(
    `cannot tell what kind of source ${value} is: give a folder, a glob, a .csv/.jsonl manifest or an IDX file`,
  );
}
