import { deconvStage } from '@neuronscope/engine';
import type { Command } from 'commander';
import { createLog } from '../log.js';
import {
  absolute,
  addCacheOptions,
  addDeconvOptions,
  deconvOptionsOf,
  guarded,
  outOption,
  runtimeOf,
  threadsOption,
} from '../options.js';

/** `neuronscope deconv`. */
export function register(program: Command): void {
  addCacheOptions(
    addDeconvOptions(
      program
        .command('deconv')
        .description(
          'stage 3c: project every selected neuron onto the input with a deconvnet, from its most active unit; writes deconv.parquet (the projections and their boxes)',
        ),
    ),
  )
    .addOption(outOption())
    .addOption(threadsOption())
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const log = createLog(Boolean(o.quiet));
        const dir = absolute(o.out)!;
        const result = await deconvStage(dir, { ...deconvOptionsOf(o), ...runtimeOf(o) }, log);
        const skipped = result.skipped ? `, ${result.skipped} layer(s) skipped` : '';
        log.info(
          `deconv: ${result.projections} projections${skipped}${result.fromCache ? ' (from the cache)' : ''} in ${dir}`,
        );
      }),
    );
}
