/**
 * The extract stage of one run, in memory: from the cache when it holds the run's id (every file checked), else
 * through the explainer's pool; the per-unit moments are reduced to `channel_stats` while they are in memory and
 * then handed back to the pool, so only what later stages read is kept (per-unit moments only when asked).
 */

import {
  activationsTable,
  CLEAN_METADATA_KEY,
  type CleanOutputs,
  type ExtractionPool,
  type ExtractTimings,
  outputsTable,
  STOPPING_METADATA_KEY,
  type StoppingCheck,
  stoppingSummary,
  unitStatsTable,
} from '@neuronscope/activations';
import {
  encodeNpy,
  type InputTensor,
  parquetToTable,
  RUN_METADATA_KEY,
  type RunConfig,
  type Table,
  tableMetadata,
  tableToParquet,
  tensorDims,
  UserError,
} from '@neuronscope/core';
import { type ChannelMetrics, channelStatsTable, metricColumns, readChannelStats } from '@neuronscope/metrics';
import { perturbationTable, readPerturbationTable } from '@neuronscope/perturb';
import type { ContentCache } from './cache.js';
import { type ExtractFile, RUN_FILES } from './files.js';
import { runId } from './run-config.js';

/** What to keep of an extraction beyond `outputs` and `channel_stats`. */
export interface KeepOptions {
  readonly activations: boolean;
  readonly unitStats: boolean;
  readonly inputs: boolean;
}

/** The extract stage's result: tables parsed and encoded (the same bytes go to the cache and the run folder). */
export interface ExtractedRun {
  readonly id: string;
  readonly metrics: ChannelMetrics;
  readonly outputs: Table;
  readonly clean: CleanOutputs;
  /** Encoded files by run-file name (`outputs`, `channelStats`, and what was kept). */
  readonly files: ReadonlyMap<ExtractFile, Uint8Array>;
  /**
   * `activations.parquet`'s table when this call computed it (null from the cache or when not kept): the report of
   * the same call uses it instead of parsing the file it was just written to.
   */
  readonly activations: Table | null;
  readonly fromCache: boolean;
  /** `--samples auto`: every check of the stopping rule and whether it was met (null for a fixed N). */
  readonly stopping: { readonly checks: readonly StoppingCheck[]; readonly stable: boolean } | null;
  /** Null when the tables came from the cache. */
  readonly timings: ExtractTimings | null;
}

/** How a call wants its extraction run. */
export interface ExtractCall {
  readonly keep: KeepOptions;
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
  readonly onCheck?: (check: StoppingCheck) => void;
  readonly log: (message: string) => void;
}

/** The cache stores files under their names in a run folder. */
const fileName = (name: ExtractFile) => RUN_FILES[name];

/** The run-file names the cache must hold for a call. */
function required(keep: KeepOptions): ExtractFile[] {
  return [
    'outputs',
    'channelStats',
    ...(keep.activations ? ['activations' as const] : []),
    ...(keep.unitStats ? ['unitStats' as const] : []),
  ];
}

/** Parses the tables of a cache hit (or a run folder), checking that they carry `id`. */
export function parseExtracted(
  id: string,
  files: ReadonlyMap<ExtractFile, Uint8Array>,
  config: RunConfig,
): {
  metrics: ChannelMetrics;
  outputs: Table;
  clean: CleanOutputs;
} {
  const table = (name: ExtractFile) => {
    const bytes = files.get(name);
    if (!bytes) throw new UserError(`${RUN_FILES[name]} is missing`);
    const t = parquetToTable(bytes);
    const tableId = t.schema.metadata.get(RUN_METADATA_KEY);
    if (tableId !== id) {
      throw new UserError(
        `${RUN_FILES[name]} belongs to another run (id ${tableId?.slice(0, 12) ?? 'none'}, run.json's ${id.slice(0, 12)}): run extract again`,
      );
    }
    return t;
  };
  const outputs = table('outputs');
  const clean = tableMetadata<CleanOutputs>(outputs, CLEAN_METADATA_KEY);
  if (!clean) throw new UserError(`${RUN_FILES.outputs} lacks the clean image's logits: run extract again`);
  const units = new Map(config.layers.map((l) => [l.layer, l.height * l.width]));
  const metrics = readChannelStats(table('channelStats'), units);
  return { metrics, outputs, clean };
}

/** Runs (or finds in the cache) the extraction of `config` on `input`; see the module comment. */
export async function extractRun(
  pool: ExtractionPool,
  cache: ContentCache | null,
  config: RunConfig,
  input: InputTensor,
  call: ExtractCall,
): Promise<ExtractedRun> {
  const id = runId(config);
  if (cache && !call.keep.inputs) {
    const names = required(call.keep);
    const hit = await cache.get('extract', id, names.map(fileName));
    if (hit) {
      const files = new Map(names.map((name) => [name, hit.get(fileName(name))!]));
      call.log(`cache hit ${id.slice(0, 12)}: reused the extraction tables from ${cache.dir}, no inference run`);
      return {
        id,
        ...parseExtracted(id, files, config),
        files,
        activations: null,
        fromCache: true,
        stopping: null,
        timings: null,
      };
    }
  }
  const run = await computeRun(pool, config, input, call, id);
  if (cache) {
    const stored = new Map(
      [...run.files].filter(([name]) => name !== 'inputs').map(([name, bytes]) => [fileName(name), bytes]),
    );
    await cache.put('extract', id, stored);
  }
  return run;
}

/** The extraction through the pool, and its tables. */
async function computeRun(
  pool: ExtractionPool,
  config: RunConfig,
  input: InputTensor,
  call: ExtractCall,
  id: string,
): Promise<ExtractedRun> {
  const copies = readPerturbationTable(perturbationTable(config.perturbation, input));
  const auto = config.perturbation.auto;
  const extraction = await pool.extract({
    input,
    copies,
    target: config.target,
    ...(auto ? { auto } : {}),
    keepInputs: call.keep.inputs,
    ...(call.signal ? { signal: call.signal } : {}),
    ...(call.onProgress ? { onProgress: call.onProgress } : {}),
    ...(call.onCheck ? { onCheck: call.onCheck } : {}),
  });
  const meta = { [RUN_METADATA_KEY]: id };
  const files = new Map<ExtractFile, Uint8Array>();
  let metrics: ChannelMetrics;
  try {
    metrics = metricColumns(extraction.layers, extraction.output);
    if (call.keep.unitStats) {
      files.set(
        'unitStats',
        tableToParquet(unitStatsTable(extraction.layers, extraction.output, meta), {
          fast: true,
          fastColumns: ['shift', 'sum_a', 'sum_aa', 'sum_ay'],
        }),
      );
    }
  } finally {
    extraction.release();
  }
  const stopping = stoppingSummary(extraction, config.layers);
  const outputs = outputsTable(extraction.rows, extraction.cleanLogits, extraction.target, {
    ...meta,
    ...(stopping ? { [STOPPING_METADATA_KEY]: JSON.stringify(stopping) } : {}),
  });
  files.set('outputs', tableToParquet(outputs));
  files.set('channelStats', tableToParquet(channelStatsTable(metrics, meta)));
  // One row per copy and channel (SqueezeNet at N = 500: 2 M rows): written like unit_stats, without dictionaries,
  // statistics or ZSTD (4x faster to write, 6% larger).
  const activations = call.keep.activations ? activationsTable(extraction.rows, config.layers, meta) : null;
  if (activations) files.set('activations', tableToParquet(activations, { fast: true }));
  if (extraction.inputs) {
    files.set('inputs', encodeNpy(extraction.inputs, [extraction.samplesUsed, ...tensorDims(input).slice(1)]));
  }
  const clean = tableMetadata<CleanOutputs>(outputs, CLEAN_METADATA_KEY)!;
  return {
    id,
    metrics,
    outputs,
    clean,
    files,
    activations,
    fromCache: false,
    stopping: extraction.stable === null ? null : { checks: extraction.checks, stable: extraction.stable },
    timings: extraction.timings,
  };
}
