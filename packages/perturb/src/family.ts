import { type InputTensor, tensorOffset, UserError } from '@neuronscope/core';
import type { z } from 'zod';

/** Layout and dimensions of an input tensor, without its values. */
export type TensorShape = Pick<InputTensor, 'layout' | 'channels' | 'height' | 'width'>;

/**
 * A way of making perturbed copies of the model's (preprocessed) input tensor. A family is pure: copy `i` is a
 * function of the input, the copy's recorded params and the copy's seed only, so copies can be regenerated
 * anywhere from the perturbations table.
 *
 * @typeParam P - the family's settings after validation, defaults filled.
 */
export interface PerturbationFamily<P> {
  /** Name on the command line and in the perturbations table. */
  readonly name: string;
  /** One line for `--help`. */
  readonly summary: string;
  /** Validates `spec.params` and fills defaults; use {@link parseParams} to turn failures into a UserError. */
  readonly params: z.ZodType<P>;
  /**
   * Params that new runs get unless they give them (see `currentPerturbation`), kept out of the schema's defaults
   * so that a run recorded without them keeps meaning what it meant: e.g. `{ normals: 'box-muller' }`, the noise
   * generator of runs made since it exists, where a recorded run without the param used `polar`.
   */
  readonly currentParams?: Readonly<Record<string, unknown>>;
  /**
   * The per-copy parameters recorded in the table (JSON-able): everything {@link PerturbationFamily.apply} needs
   * besides the input and the copy's seed.
   */
  describeCopy(p: P, copy: number, copySeed: number, samples: number, shape: TensorShape): Record<string, unknown>;
  /**
   * Writes one copy of `input` into `out` (`out.length === input.data.length`), from the copy's recorded params
   * and seed. Throws a UserError if `copyParams` are not this family's. Allocates nothing per element.
   */
  apply(input: InputTensor, copyParams: Record<string, unknown>, copySeed: number, out: Float32Array): void;
}

/** Element strides of channel, row and column in `shape`'s layout, as `tensorOffset` defines it. */
export function layoutStrides(shape: TensorShape): { channel: number; row: number; column: number } {
  const origin = tensorOffset(shape, 0, 0, 0);
  return {
    channel: tensorOffset(shape, 1, 0, 0) - origin,
    row: tensorOffset(shape, 0, 1, 0) - origin,
    column: tensorOffset(shape, 0, 0, 1) - origin,
  };
}

/** Throws unless `input` holds channels * height * width values and `out` is as long. */
export function checkBuffers(input: InputTensor, out: Float32Array): void {
  const { channels, height, width, data } = input;
  const size = channels * height * width;
  if (!(channels > 0 && height > 0 && width > 0) || data.length !== size) {
    throw new Error(`input tensor ${channels}x${height}x${width} does not match its ${data.length} values`);
  }
  if (out.length !== size) throw new Error(`output buffer has ${out.length} values, the input ${size}`);
}

/**
 * `schema.parse(value)`, with a failure turned into a one-line UserError that names the param, e.g.
 * `perturbation 'gaussian': sigma must be > 0 (got -1)`. `context` starts the message.
 */
export function parseParams<T>(schema: z.ZodType<T>, value: unknown, context: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new UserError(`${context}: invalid params`);
  if (issue.code === 'unrecognized_keys') {
    throw new UserError(`${context}: unknown param '${issue.keys.join("', '")}'`);
  }
  const name = issue.path.join('.');
  if (name === '') throw new UserError(`${context}: params must be an object`);
  const got = issue.path.reduce<unknown>(
    (v, key) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[key] : undefined),
    value,
  );
  throw new UserError(`${context}: ${name} ${describeIssue(issue)} (got ${formatValue(got)})`);
}

function formatValue(value: unknown): string {
  return typeof value === 'number' || value === undefined ? String(value) : (JSON.stringify(value) ?? String(value));
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.expected === 'int' ? 'must be an integer' : `must be a ${issue.expected}`;
    case 'too_small':
      return `must be ${issue.inclusive ? '>=' : '>'} ${issue.minimum}`;
    case 'too_big':
      return `must be ${issue.inclusive ? '<=' : '<'} ${issue.maximum}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => String(v)).join(', ')}`;
    default:
      return issue.message;
  }
}
