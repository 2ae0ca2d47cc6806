import { createWriteStream } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Writable } from 'node:stream';
import { type RecordBatch, type Schema, Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import { UserError } from './errors.js';
import { makeDirs, temporaryPathFor, writeFileAtomic } from './files.js';

/** Options of {@link tableToParquet} and {@link writeParquetFile}; the defaults suit small, compressible tables. */
export interface ParquetWriteOptions {
  /**
   * Write for speed, for big tables of numbers (running sums over millions of units): no dictionary encoding, no
   * statistics, LZ4_RAW instead of ZSTD, and the `fastColumns` (floats that do not compress) stored uncompressed.
   * Several times faster to write than the defaults; the files are larger.
   */
  readonly fast?: boolean;
  /** With `fast`: columns stored uncompressed. */
  readonly fastColumns?: readonly string[];
}

// Fixed writer settings: the same table always gives the same bytes (the tables are compared byte for byte).
function writerProperties(options: ParquetWriteOptions = {}): parquet.WriterProperties {
  let builder = new parquet.WriterPropertiesBuilder()
    .setCompression(options.fast ? parquet.Compression.LZ4_RAW : parquet.Compression.ZSTD)
    .setCreatedBy('neuronscope');
  if (options.fast) {
    builder = builder.setDictionaryEnabled(false).setStatisticsEnabled(parquet.EnabledStatistics.None);
    for (const column of options.fastColumns ?? []) {
      builder = builder.setColumnCompression(column, parquet.Compression.UNCOMPRESSED);
    }
  }
  return builder.build();
}

function toWasmTable(table: Table): parquet.Table {
  return parquet.Table.fromIPCStream(tableToIPC(table, 'stream'));
}

/** Serialises an Arrow table to Parquet bytes (ZSTD, deterministic). */
export function tableToParquet(table: Table, options?: ParquetWriteOptions): Uint8Array {
  return parquet.writeParquet(toWasmTable(table), writerProperties(options));
}

/** Rows per record batch when reading: whole row groups, so big tables are a few batches, not thousands. */
const READ_BATCH_ROWS = 1 << 30;

/** Parses Parquet bytes into an Arrow table. */
export function parquetToTable(bytes: Uint8Array): Table {
  return tableFromIPC(parquet.readParquet(bytes, { batchSize: READ_BATCH_ROWS }).intoIPCStream());
}

/** Writes `table` to `path` as Parquet, atomically. */
export async function writeParquetFile(path: string, table: Table, options?: ParquetWriteOptions): Promise<void> {
  await writeFileAtomic(path, tableToParquet(table, options));
}

/** Reads a Parquet file into an Arrow table; a missing or unreadable file is a {@link UserError}. */
export async function readParquetFile(path: string): Promise<Table> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    throw new UserError(`cannot read ${path}: file not found (run the stage that writes it first)`);
  }
  try {
    return parquetToTable(bytes);
  } catch (err) {
    throw new UserError(`${path} is not a readable Parquet file (${(err as Error).message})`);
  }
}

/**
 * Streams record batches into one Parquet file without holding the whole table: memory stays flat however
 * many batches are written. The file appears atomically at `close()`; `abort()` leaves nothing behind.
 */
export class ParquetStreamWriter {
  private readonly tmp: string;
  private controller!: ReadableStreamDefaultController<parquet.RecordBatch>;
  private readonly finished: Promise<void>;

  private constructor(
    private readonly path: string,
    readonly schema: Schema,
    options?: ParquetWriteOptions,
  ) {
    this.tmp = temporaryPathFor(path);
    const batches = new ReadableStream<parquet.RecordBatch>({
      start: (controller) => {
        this.controller = controller;
      },
    });
    const tmp = this.tmp;
    this.finished = (async () => {
      const bytes = (await parquet.transformParquetStream(
        batches,
        writerProperties(options),
      )) as ReadableStream<Uint8Array>;
      await bytes.pipeTo(Writable.toWeb(createWriteStream(tmp)) as WritableStream<Uint8Array>);
    })();
    // Surface errors at close(), not as unhandled rejections.
    this.finished.catch(() => undefined);
  }

  /** Opens a writer for `path` (its directory is created). */
  static async open(path: string, schema: Schema, options?: ParquetWriteOptions): Promise<ParquetStreamWriter> {
    await makeDirs(dirname(path));
    return new ParquetStreamWriter(path, schema, options);
  }

  /** Appends the record batches of `table` (its schema must equal the writer's). */
  write(table: Table | RecordBatch): void {
    const t = table instanceof Table ? table : new Table([table]);
    if (t.numRows === 0) return;
    for (const batch of toWasmTable(t).recordBatches()) this.controller.enqueue(batch);
  }

  /** Finishes the file and moves it into place. */
  async close(): Promise<void> {
    this.controller.close();
    await this.finished;
    await rename(this.tmp, this.path);
  }

  /** Drops the file being written. */
  async abort(): Promise<void> {
    try {
      this.controller.error(new Error('aborted'));
    } catch {
      // already closed
    }
    await this.finished.catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}
