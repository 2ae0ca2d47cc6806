import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ParquetStreamWriter, readParquetFile, tableToParquet, writeParquetFile } from './parquet.js';
import { activationsSchema, MOMENTS_METADATA_KEY, momentsSchema, neuronsSchema, outputsSchema } from './schemas.js';
import { columnValues, makeTable, tableMetadata } from './tables.js';

describe('tables', () => {
  it('round-trips every column kind through Parquet, with metadata', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-core-'));
    const t = makeTable(
      momentsSchema('unit'),
      {
        layer: { indices: Int32Array.from([0, 0, 1]), dictionary: ['conv1', 'conv2'] },
        layer_index: Int32Array.from([0, 0, 1]),
        channel: Int32Array.from([0, 1, 0]),
        unit: Int32Array.from([5, 6, 7]),
        shift: Float32Array.from([0.5, 1, 2]),
        sum_a: Float64Array.from([1, 2, 3]),
        sum_aa: Float64Array.from([1, 4, 9]),
        sum_ay: Float64Array.from([0.1, 0.2, 0.3]),
      },
      3,
      { [MOMENTS_METADATA_KEY]: JSON.stringify({ count: 7 }) },
    );
    await writeParquetFile(join(dir, 'm.parquet'), t);
    const back = await readParquetFile(join(dir, 'm.parquet'));
    expect(back.numRows).toBe(3);
    expect(columnValues<string>(back, 'layer')).toEqual(['conv1', 'conv1', 'conv2']);
    expect(Array.from(columnValues<number>(back, 'sum_aa'))).toEqual([1, 4, 9]);
    expect(tableMetadata<{ count: number }>(back, MOMENTS_METADATA_KEY)).toEqual({ count: 7 });
  });

  it('writes fixed-size lists and nullable columns, deterministically', () => {
    const outputs = makeTable(
      outputsSchema(3),
      {
        copy: Int32Array.from([0, 1]),
        logits: Float32Array.from([1, 2, 3, 4, 5, 6]),
        y: Float64Array.from([0.1, 0.2]),
        top1: Int32Array.from([2, 2]),
      },
      2,
    );
    const bytes = tableToParquet(outputs);
    expect(Buffer.from(tableToParquet(outputs)).equals(Buffer.from(bytes))).toBe(true);
    const neurons = makeTable(
      neuronsSchema,
      {
        layer: { indices: Int32Array.from([0]), dictionary: ['c'] },
        layer_index: Int32Array.from([0]),
        channel: Int32Array.from([0]),
        correlation: Float64Array.from([Number.NaN]),
        correlation_channel: Float64Array.from([0.5]),
        precision: Float64Array.from([2]),
        snr: Float64Array.from([1]),
        mean_activation: Float64Array.from([0.3]),
        eligible: [true],
        rank_correlation: [null],
        rank_precision: [1],
        selected_correlation: [false],
        selected_precision: [true],
        global_rank_correlation: [null],
        global_rank_precision: [1],
      },
      1,
    );
    expect(neurons.getChild('rank_correlation')?.get(0)).toBeNull();
    expect(neurons.getChild('eligible')?.get(0)).toBe(true);
  });

  it('streams batches into one file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-core-'));
    const path = join(dir, 'a.parquet');
    const w = await ParquetStreamWriter.open(path, activationsSchema);
    for (let b = 0; b < 3; b++) {
      w.write(
        makeTable(
          activationsSchema,
          {
            copy: Int32Array.from([b, b]),
            layer: { indices: Int32Array.from([0, 0]), dictionary: ['x'] },
            layer_index: Int32Array.from([0, 0]),
            channel: Int32Array.from([0, 1]),
            mean: Float32Array.from([b, b + 0.5]),
          },
          2,
        ),
      );
    }
    await w.close();
    const back = await readParquetFile(path);
    expect(back.numRows).toBe(6);
    expect(Array.from(columnValues<number>(back, 'mean'))).toEqual([0, 0.5, 1, 1.5, 2, 2.5]);
    expect((await readFile(path)).length).toBeGreaterThan(0);
  });
});
