import { extractStage } from '@neuronscope/engine';
import type { Command } from 'commander';
import { createLog } from '../log.js';
import { absolute, addCacheOptions, guarded, outOption, runtimeOf, threadsOption, workersOption } from '../options.js';

/** `neuronscope extract`. */
export function register(program: Command): void {
  addCacheOptions(
    program
      .command('extract')
      .description('stage 2: run the copies through the model; write the output, activation and channel tables'),
  )
    .addOption(outOption())
    .addOption(threadsOption())
    .addOption(workersOption())
    .option('--dump-inputs', 'also write inputs.npy: the exact float32 tensors fed to the model')
    .option('--keep-unit-stats', 'also write unit_stats.parquet: the per-unit moments (one row per unit, big)')
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const dir = absolute(o.out)!;
        const log = createLog(Boolean(o.quiet));
        const result = await extractStage(
          dir,
          { ...runtimeOf(o), dumpInputs: Boolean(o.dumpInputs), keepUnitStats: Boolean(o.keepUnitStats) },
          log,
        );
        log.info(
          `extract: ${result.samplesUsed} copies${result.fromCache ? ' (from the cache)' : ''}; tables in ${dir}`,
        );
      }),
    );
}
