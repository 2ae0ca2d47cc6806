import {
  columnValues,
  type InputTensor,
  makeTable,
  type PerturbationSpec,
  perturbationsSchema,
  UserError,
} from '@neuronscope/core';
import type { TensorShape } from './family.js';
import { perturbations, resolvePerturbation } from './registry.js';
import { copySeed } from './rng.js';

/** An Arrow table, as core's table helpers make and read them. */
export type Table = ReturnType<typeof makeTable>;

/** One row of the perturbations table: everything needed to regenerate one copy's pixels. */
export interface CopyRecord {
  /** Copy index, 0..N-1. */
  copy: number;
  /** Perturbation family name. */
  family: string;
  /** Seed of the copy's random stream, `copySeed(runSeed, copy)`. */
  seed: number;
  /** The family's parameters for this copy. */
  params: Record<string, unknown>;
}

/**
 * The perturbations table of `spec` for an input of `shape`: one row per copy (copy, family, seed, params as
 * JSON), in copy order. The spec is resolved first, so the table is the same for a spec with or without its
 * defaults spelled out.
 */
export function perturbationTable(spec: PerturbationSpec, shape: TensorShape): Table {
  const resolved = resolvePerturbation(spec);
  const { layout, channels, height, width } = shape;
  for (const [name, size] of [
    ['channels', channels],
    ['height', height],
    ['width', width],
  ] as const) {
    if (!Number.isInteger(size) || size <= 0) throw new RangeError(`perturbationTable: bad ${name} ${size}`);
  }
  const family = perturbations.get(resolved.family);
  const params = family.params.parse(resolved.params);
  const n = resolved.samples;
  const copies = new Int32Array(n);
  const seeds = new Uint32Array(n);
  const paramsJson: string[] = [];
  for (let copy = 0; copy < n; copy++) {
    const seed = copySeed(resolved.seed, copy);
    copies[copy] = copy;
    seeds[copy] = seed;
    paramsJson.push(JSON.stringify(family.describeCopy(params, copy, seed, n, { layout, channels, height, width })));
  }
  const familyNames = new Array<string>(n).fill(family.name);
  return makeTable(perturbationsSchema, { copy: copies, family: familyNames, seed: seeds, params: paramsJson }, n);
}

/**
 * The rows of a perturbations table. Throws a UserError if a column is missing, has the wrong type or nulls,
 * a family is unknown or a params cell is not a JSON object. The params themselves are checked when a copy
 * is rendered.
 */
export function readPerturbationTable(table: Table): CopyRecord[] {
  for (const expected of perturbationsSchema.fields) {
    const field = table.schema.fields.find((f) => f.name === expected.name);
    if (!field) throw new UserError(`perturbations table: column '${expected.name}' is missing`);
    if (String(field.type) !== String(expected.type)) {
      throw new UserError(
        `perturbations table: column '${expected.name}' is ${String(field.type)}, expected ${String(expected.type)}`,
      );
    }
    if ((table.getChild(expected.name)?.nullCount ?? 0) > 0) {
      throw new UserError(`perturbations table: column '${expected.name}' has nulls`);
    }
  }
  const copies = columnValues<number>(table, 'copy');
  const familyNames = columnValues<string>(table, 'family');
  const seeds = columnValues<number>(table, 'seed');
  const paramsJson = columnValues<string>(table, 'params');
  const records: CopyRecord[] = [];
  for (let row = 0; row < table.numRows; row++) {
    const copy = copies[row]!;
    const family = perturbations.get(familyNames[row]!).name;
    let params: unknown;
    try {
      params = JSON.parse(paramsJson[row]!);
    } catch {
      throw new UserError(`perturbations table: copy ${copy} has params that are not JSON`);
    }
    if (params === null || typeof params !== 'object' || Array.isArray(params)) {
      throw new UserError(`perturbations table: copy ${copy} has params that are not a JSON object`);
    }
    records.push({ copy, family, seed: seeds[row]!, params: params as Record<string, unknown> });
  }
  return records;
}

/**
 * Regenerates the pixels of the copy `record` describes into `out` (as long as `input.data`). Deterministic:
 * the same input and record always give the same bits.
 */
export function renderCopy(input: InputTensor, record: CopyRecord, out: Float32Array): void {
  perturbations.get(record.family).apply(input, record.params, record.seed, out);
}
