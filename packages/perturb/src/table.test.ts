import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type InputTensor,
  makeTable,
  perturbationsSchema,
  readParquetFile,
  tableToParquet,
  UserError,
  writeParquetFile,
} from '@neuronscope/core';
import { describe, expect, it } from 'vitest';
import {
  copySeed,
  perturbations,
  perturbationTable,
  readPerturbationTable,
  renderCopy,
  resolvePerturbation,
} from './index.js';

const input: InputTensor = {
  data: Float32Array.from({ length: 3 * 40 * 48 }, (_, i) => Math.sin(i / 7)),
  layout: 'NHWC',
  channels: 3,
  height: 40,
  width: 48,
};

const spec = (family: string, params: Record<string, unknown> = {}, samples = 5, seed = 42) => ({
  family,
  samples,
  seed,
  params,
});

/** `resolvePerturbation(s)`'s UserError message. */
function resolveError(s: ReturnType<typeof spec>): string {
  try {
    resolvePerturbation(s);
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return (error as Error).message;
  }
  throw new Error('resolvePerturbation did not throw');
}

describe('registry', () => {
  it('lists the families in order, each with a one-line summary', () => {
    expect(perturbations.names()).toEqual(['paper', 'gaussian', 'multiplicative', 'mask']);
    for (const name of perturbations.names()) {
      const family = perturbations.get(name);
      expect(family.name).toBe(name);
      expect(family.summary.length).toBeGreaterThan(10);
      expect(family.summary).not.toContain('\n');
    }
  });

  it('names the choices for an unknown family', () => {
    expect(() => perturbations.get('blur')).toThrow(UserError);
    expect(() => perturbations.get('blur')).toThrow(
      "unknown perturbation 'blur' (choose from paper, gaussian, multiplicative, mask)",
    );
  });
});

describe('resolvePerturbation', () => {
  it('fills defaults, and is idempotent', () => {
    expect(resolvePerturbation(spec('paper')).params).toEqual({ sigma: 0.1 });
    expect(resolvePerturbation(spec('gaussian')).params).toEqual({ sigma: 0.1, includeClean: true });
    expect(resolvePerturbation(spec('multiplicative', { sigma: 0.2 })).params).toEqual({
      sigma: 0.2,
      includeClean: true,
    });
    const resolved = resolvePerturbation(spec('mask', { baseline: 'blur' }));
    expect(resolved).toEqual({
      family: 'mask',
      samples: 5,
      seed: 42,
      params: { grid: 7, keepProb: 0.5, baseline: 'blur', includeClean: true },
    });
    expect(resolvePerturbation(resolved)).toEqual(resolved);
  });

  it('rejects bad values with one line naming the param', () => {
    expect(resolveError(spec('gaussian', { sigma: -1 }))).toBe("perturbation 'gaussian': sigma must be > 0 (got -1)");
    expect(resolveError(spec('paper', { sigma: 0 }))).toBe("perturbation 'paper': sigma must be > 0 (got 0)");
    expect(resolveError(spec('multiplicative', { sigma: 'big' }))).toBe(
      'perturbation \'multiplicative\': sigma must be a number (got "big")',
    );
    expect(resolveError(spec('mask', { keepProb: 0 }))).toBe("perturbation 'mask': keepProb must be > 0 (got 0)");
    expect(resolveError(spec('mask', { keepProb: 1.5 }))).toBe("perturbation 'mask': keepProb must be <= 1 (got 1.5)");
    expect(resolvePerturbation(spec('mask', { keepProb: 1 })).params.keepProb).toBe(1);
    expect(resolveError(spec('mask', { grid: 2.5 }))).toBe("perturbation 'mask': grid must be an integer (got 2.5)");
    expect(resolveError(spec('mask', { baseline: 'black' }))).toBe(
      'perturbation \'mask\': baseline must be one of zero, mean, blur (got "black")',
    );
    expect(resolveError(spec('gaussian', { sigm: 0.2 }))).toBe("perturbation 'gaussian': unknown param 'sigm'");
    expect(resolveError(spec('noise'))).toBe(
      "unknown perturbation 'noise' (choose from paper, gaussian, multiplicative, mask)",
    );
    expect(resolveError(spec('paper', {}, 2))).toBe('--samples must be at least 3');
    expect(resolveError(spec('paper', {}, 3.5))).toBe('--samples must be a whole number (got 3.5)');
    expect(resolveError(spec('paper', {}, 3, -1))).toMatch(/^--seed must be/);
  });
});

describe('perturbations table', () => {
  it('has one row per copy, with the derived seeds and the family params as JSON', () => {
    const table = perturbationTable(spec('gaussian', {}, 4, 9), input);
    expect(table.numRows).toBe(4);
    expect(table.schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual(
      perturbationsSchema.fields.map((f) => `${f.name}:${f.type}`),
    );
    expect(readPerturbationTable(table)).toEqual(
      [0, 1, 2, 3].map((copy) => ({
        copy,
        family: 'gaussian',
        seed: copySeed(9, copy),
        params: { sigma: 0.1, clean: copy === 0 },
      })),
    );
  });

  it('is byte-identical for the same spec, with or without defaults spelled out, and differs by seed', () => {
    const bytes = (s: ReturnType<typeof spec>) => Buffer.from(tableToParquet(perturbationTable(s, input)));
    const a = bytes(spec('mask', {}, 6, 1));
    expect(bytes(spec('mask', {}, 6, 1)).equals(a)).toBe(true);
    expect(bytes(spec('mask', { grid: 7, keepProb: 0.5, baseline: 'zero' }, 6, 1)).equals(a)).toBe(true);
    expect(bytes(spec('mask', {}, 6, 2)).equals(a)).toBe(false);
  });

  it.each([
    ['paper', {}],
    ['gaussian', { sigma: 0.3 }],
    ['multiplicative', { includeClean: false }],
    ['mask', { baseline: 'blur', grid: 4 }],
  ])('round-trips %s through Parquet, and renders the same pixels as direct generation', async (family, params) => {
    const dir = await mkdtemp(join(tmpdir(), 'ns-perturb-'));
    const s = spec(family, params, 4, 1234);
    const table = perturbationTable(s, input);
    await writeParquetFile(join(dir, 'perturbations.parquet'), table);
    const records = readPerturbationTable(await readParquetFile(join(dir, 'perturbations.parquet')));
    expect(records).toEqual(readPerturbationTable(table));

    const resolved = resolvePerturbation(s);
    const impl = perturbations.get(family);
    const p = impl.params.parse(resolved.params);
    for (const record of records) {
      const seed = copySeed(1234, record.copy);
      const direct = new Float32Array(input.data.length);
      impl.apply(input, impl.describeCopy(p, record.copy, seed, 4, input), seed, direct);
      const rendered = new Float32Array(input.data.length);
      renderCopy(input, record, rendered);
      expect(Buffer.from(rendered.buffer).equals(Buffer.from(direct.buffer))).toBe(true);
    }
  });

  it('rejects tables that are not perturbation tables', () => {
    const good = perturbationTable(spec('paper', {}, 3), input);
    const columns = {
      copy: Int32Array.from([0]),
      family: ['paper'],
      seed: Uint32Array.from([1]),
      params: ['{"sigma":0.1,"scale":0}'],
    };
    expect(readPerturbationTable(makeTable(perturbationsSchema, columns, 1))).toHaveLength(1);

    const withoutSeed = perturbationsSchema.select(['copy', 'family', 'params']);
    expect(() => readPerturbationTable(makeTable(withoutSeed, columns, 1))).toThrow(
      "perturbations table: column 'seed' is missing",
    );
    const int32 = perturbationsSchema.fields.find((f) => f.name === 'copy')!.type;
    const signedSeed = perturbationsSchema.assign(perturbationsSchema.fields[2]!.clone({ type: int32 }));
    expect(() => readPerturbationTable(makeTable(signedSeed, { ...columns, seed: Int32Array.from([1]) }, 1))).toThrow(
      "perturbations table: column 'seed' is Int32, expected Uint32",
    );
    expect(() => readPerturbationTable(makeTable(perturbationsSchema, { ...columns, params: ['{sigma'] }, 1))).toThrow(
      'perturbations table: copy 0 has params that are not JSON',
    );
    expect(() => readPerturbationTable(makeTable(perturbationsSchema, { ...columns, params: ['[1]'] }, 1))).toThrow(
      UserError,
    );
    expect(() => readPerturbationTable(makeTable(perturbationsSchema, { ...columns, family: ['fog'] }, 1))).toThrow(
      "unknown perturbation 'fog'",
    );
    expect(readPerturbationTable(good)).toHaveLength(3);
  });

  it('refuses to render a copy whose params do not fit its family', () => {
    const record = readPerturbationTable(perturbationTable(spec('paper', {}, 3), input))[1]!;
    const out = new Float32Array(input.data.length);
    expect(() => renderCopy(input, { ...record, params: { sigma: 0.1 } }, out)).toThrow(
      "perturbation 'paper' copy: scale must be a number (got undefined)",
    );
    expect(() => renderCopy(input, { ...record, family: 'gaussian' }, out)).toThrow(UserError);
    expect(() => renderCopy(input, record, new Float32Array(10))).toThrow(/output buffer/);
  });
});
