import { classProbabilities, type InputTensor, type LayerInfo, tensorDims, tensorOffset } from '@neuronscope/core';
import { createSession } from '@neuronscope/model';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyConvModel } from '../../model/test/fixtures.js';
import { type BlendJob, cellOfPixel, renderBlend } from './curves.js';
import { mapGrid } from './map-accumulator.js';
import { ExtractionPool } from './pool.js';

const shape = (layout: 'NCHW' | 'NHWC') => ({ layout, channels: 3, height: 8, width: 8 }) as const;

/** A tensor whose value at (c, y, x) is `base + 100c + 10y + x`, in the given layout. */
function tensor(layout: 'NCHW' | 'NHWC', base: number): Float32Array {
  const s = shape(layout);
  const out = new Float32Array(3 * 64);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) out[tensorOffset(s, c, y, x)] = base + 100 * c + 10 * y + x;
  return out;
}

describe('renderBlend', () => {
  // A 4x4 grid of 2x2-pixel cells, ranked in reverse row-major order: cell 15 first, cell 0 last.
  const grid = mapGrid(8, 8, 4);
  const ranks = Int32Array.from({ length: 16 }, (_, q) => 15 - q);

  it.each(['NCHW', 'NHWC'] as const)(
    'takes the leading cells from one source and the rest from the other (%s)',
    (layout) => {
      const sources = [tensor(layout, 0), tensor(layout, 1000)];
      const out = new Float32Array(3 * 64);
      renderBlend(shape(layout), sources, ranks, cellOfPixel(grid), { ranking: 0, count: 3, first: 1, rest: 0 }, out);
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < 8; y++) {
          for (let x = 0; x < 8; x++) {
            // Ranks 0..2 are cells 15, 14, 13: the bottom row of cells, columns 1..3 (pixels y >= 6, x >= 2).
            const leading = y >= 6 && x >= 2;
            const expected = (leading ? 1000 : 0) + 100 * c + 10 * y + x;
            expect(out[tensorOffset(shape(layout), c, y, x)], `${c},${y},${x}`).toBe(expected);
          }
        }
      }
    },
  );

  it('gives the rest source at count 0 and the first source when every cell is counted', () => {
    const sources = [tensor('NCHW', 0), tensor('NCHW', 1000)];
    const out = new Float32Array(3 * 64);
    const cells = cellOfPixel(grid);
    renderBlend(shape('NCHW'), sources, ranks, cells, { ranking: 0, count: 0, first: 1, rest: 0 }, out);
    expect(Array.from(out)).toEqual(Array.from(sources[0]!));
    renderBlend(shape('NCHW'), sources, ranks, cells, { ranking: 0, count: 16, first: 1, rest: 0 }, out);
    expect(Array.from(out)).toEqual(Array.from(sources[1]!));
  });
});

describe('blended copies through the extraction pool', () => {
  const input: InputTensor = {
    data: Float32Array.from({ length: 3 * 8 * 8 }, (_, i) => Math.sin(i * 0.7) + 0.2),
    ...shape('NCHW'),
  };
  const layers: LayerInfo[] = [
    { layer: 'r1', layerIndex: 0, convNode: 'conv1', op: 'Relu', channels: 4, height: 8, width: 8 },
  ];
  let pool: ExtractionPool;
  beforeAll(() => {
    pool = new ExtractionPool({
      model: tinyConvModel(),
      inputName: 'image',
      outputName: 'scores',
      layers,
      output: 'prob',
      batchSize: 3,
      input,
      workers: 2,
      threads: 1,
    });
  });
  afterAll(() => pool.close());

  it("returns each copy's target probability and top-1, as a session of its own computes them", async () => {
    const grid = mapGrid(8, 8, 4);
    const zeros = new Float32Array(input.data.length);
    const rankings = [
      Int32Array.from({ length: 16 }, (_, q) => q),
      Int32Array.from({ length: 16 }, (_, q) => (q * 7) % 16),
    ];
    const copies = [0, 1].flatMap((ranking) =>
      [0, 4, 8, 12, 16].map((count) => ({ ranking, count, first: 1, rest: 0 })),
    );
    const job: BlendJob = { shape: input, sources: [input.data, zeros], rankings, grid, copies, target: 1 };
    const result = await pool.blend(job);
    // Independently: render every copy here and run the plain model.
    const session = await createSession(tinyConvModel());
    const cells = cellOfPixel(grid);
    const batch = new Float32Array(copies.length * input.data.length);
    copies.forEach((copy, b) => {
      const out = batch.subarray(b * input.data.length, (b + 1) * input.data.length);
      renderBlend(input, job.sources, rankings[copy.ranking]!, cells, copy, out);
    });
    const out = await session.run({ image: new ort.Tensor('float32', batch, tensorDims(input, copies.length)) });
    await session.release();
    const logits = out.scores!.data as Float32Array;
    const classes = logits.length / copies.length;
    copies.forEach((_, b) => {
      const row = logits.subarray(b * classes, (b + 1) * classes);
      expect(result.probability[b]).toBeCloseTo(classProbabilities(row, 'logits')[1]!, 6);
      expect(result.top1[b]).toBe(row[0]! >= row[1]! ? 0 : 1);
    });
    // Count 0 is the image itself, whatever the ranking; the full count is the zero input.
    expect(result.probability[0]).toBe(result.probability[5]);
    expect(result.probability[4]).toBe(result.probability[9]);
  });
});
