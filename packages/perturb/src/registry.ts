import { type PerturbationSpec, UserError } from '@neuronscope/core';
import { type PerturbationFamily, parseParams } from './family.js';
import { gaussian } from './gaussian.js';
import { mask } from './mask.js';
import { multiplicative } from './multiplicative.js';
import { paper } from './paper.js';

/** The most copies of one image: beyond it the per-copy rows alone outgrow memory (see the engine's budget). */
export const MAX_SAMPLES = 100_000;

/** Every family, in the order `--help` lists them. A new family is one file and one entry here. */
const families: readonly PerturbationFamily<unknown>[] = [paper, gaussian, multiplicative, mask];

function names(): string[] {
  return families.map((f) => f.name);
}

function get(name: string): PerturbationFamily<unknown> {
  const family = families.find((f) => f.name === name);
  if (!family) throw new UserError(`unknown perturbation '${name}' (choose from ${names().join(', ')})`);
  return family;
}

/** The registered perturbation families, by name. */
export const perturbations: {
  /** The family called `name`; throws a UserError listing the choices if there is none. */
  get(name: string): PerturbationFamily<unknown>;
  /** Names of all families, in registration order. */
  names(): string[];
} = Object.freeze({ get, names });

/**
 * `spec` checked and completed: a known family, at least 3 samples, a uint32 seed, and the family's params
 * validated with their defaults filled in. Idempotent. Throws a one-line UserError on the first problem.
 */
export function resolvePerturbation(spec: PerturbationSpec): PerturbationSpec {
  const family = perturbations.get(spec.family);
  if (!Number.isInteger(spec.samples)) throw new UserError(`--samples must be a whole number (got ${spec.samples})`);
  if (spec.samples < 3) throw new UserError('--samples must be at least 3');
  if (spec.samples > MAX_SAMPLES) throw new UserError(`--samples must be at most ${MAX_SAMPLES}`);
  if (!Number.isInteger(spec.seed) || spec.seed < 0 || spec.seed > 0xffffffff) {
    throw new UserError(`--seed must be a whole number in [0, 4294967295] (got ${spec.seed})`);
  }
  const params = parseParams(family.params, spec.params, `perturbation '${family.name}'`) as Record<string, unknown>;
  return { family: family.name, samples: spec.samples, seed: spec.seed, params };
}

/**
 * {@link resolvePerturbation} for a new run: the family's {@link PerturbationFamily.currentParams} (the current
 * noise generator) added where `spec` does not give them. Runs read back from their `run.json` are resolved with
 * {@link resolvePerturbation} alone, so they keep the generator they were made with.
 */
export function currentPerturbation(spec: PerturbationSpec): PerturbationSpec {
  const family = perturbations.get(spec.family);
  return resolvePerturbation({ ...spec, params: { ...family.currentParams, ...spec.params } });
}
