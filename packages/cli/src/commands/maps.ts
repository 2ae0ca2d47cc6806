import { resolve } from 'node:path';
import { UserError } from '@neuronscope/core';
import { type Command, Option } from 'commander';
import { createLog } from '../log.js';
import { guarded, integer, number, type Opts, outOption, threadsOption } from '../options.js';
import { DEFAULT_MAP_SIZE, DEFAULT_MASKS, type MapsOptions, runMapsStage } from '../stages/maps.js';

/** The options that shape the heat maps; `explain` takes them too. */
export function addMapsOptions(cmd: Command): Command {
  return cmd
    .option(
      '--masks <M>',
      `masked copies for the heat maps (${DEFAULT_MASKS}; 0 skips the maps in explain)`,
      integer(0),
      DEFAULT_MASKS,
    )
    .option('--mask-grid <s>', 'RISE mask grid: s x s random cells', integer(2), 7)
    .option('--mask-keep <p>', 'probability that a mask cell keeps the image', number, 0.5)
    .addOption(
      new Option('--mask-baseline <kind>', 'what masked-out pixels become')
        .choices(['zero', 'mean', 'blur'])
        .default('zero'),
    )
    .option('--mask-seed <seed>', "seed of the masks (default: the run's seed)", integer(0))
    .option('--map-size <cells>', 'longest side of a heat map, in cells', integer(4), DEFAULT_MAP_SIZE);
}

/** Reads the parsed maps options of a command. */
export function mapsOptionsOf(o: Opts): MapsOptions {
  const keepProb = o.maskKeep as number;
  if (!(keepProb > 0 && keepProb < 1)) throw new UserError('--mask-keep must be between 0 and 1 (exclusive)');
  return {
    masks: o.masks as number,
    grid: o.maskGrid as number,
    keepProb,
    baseline: o.maskBaseline as MapsOptions['baseline'],
    seed: o.maskSeed as number | undefined,
    mapSize: o.mapSize as number,
    threads: o.threads as number | undefined,
    cache: o.cache as boolean | undefined,
    cacheDir: o.cacheDir as string | undefined,
  };
}

/** `neuronscope maps`. */
export function register(program: Command): void {
  addMapsOptions(
    program
      .command('maps')
      .description(
        'stage 3b: heat maps of the selected neurons and the output from M masked copies (RISE); writes maps.parquet',
      ),
  )
    .addOption(outOption())
    .addOption(threadsOption())
    .option('--no-cache', 'neither reuse nor store cached maps')
    .option('--cache-dir <dir>', 'cache directory (default: $NEURONSCOPE_CACHE_DIR or ~/.cache/neuronscope)')
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const log = createLog(Boolean(o.quiet));
        const result = await runMapsStage(resolve(o.out as string), mapsOptionsOf(o), log);
        log.info(`maps: ${result.path}`);
      }),
    );
}
