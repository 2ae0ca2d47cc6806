import { mapsStage } from '@neuronscope/engine';
import type { Command } from 'commander';
import { createLog } from '../log.js';
import {
  absolute,
  addCacheOptions,
  addMapsOptions,
  guarded,
  mapsOptionsOf,
  outOption,
  runtimeOf,
  threadsOption,
  workersOption,
} from '../options.js';

/** `neuronscope maps`. */
export function register(program: Command): void {
  addCacheOptions(
    addMapsOptions(
      program
        .command('maps')
        .description(
          'stage 3b: heat maps of the selected neurons and the output from M masked copies (RISE); writes maps.parquet',
        ),
    ),
  )
    .addOption(outOption())
    .addOption(threadsOption())
    .addOption(workersOption())
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const log = createLog(Boolean(o.quiet));
        const dir = absolute(o.out)!;
        const result = await mapsStage(dir, { ...mapsOptionsOf(o), ...runtimeOf(o) }, log);
        log.info(`maps: ${result.maps} maps${result.fromCache ? ' (from the cache)' : ''} in ${dir}`);
      }),
    );
}
