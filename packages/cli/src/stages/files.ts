import { join } from 'node:path';
import { EXTRACT_FILES } from '@neuronscope/activations';

/** The files of one run directory, stage by stage. */
export const RUN_FILES = {
  run: 'run.json',
  perturbations: 'perturbations.parquet',
  ...EXTRACT_FILES,
  neurons: 'neurons.parquet',
  summary: 'summary.json',
  report: 'report.html',
} as const;

/** Absolute path of a run file. */
export function runFile(dir: string, name: keyof typeof RUN_FILES): string {
  return join(dir, RUN_FILES[name]);
}
