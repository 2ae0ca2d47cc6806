import { resolve } from 'node:path';
import { ATLAS_TOP, MIN_SUPPORT, sweepPaths, writeAtlas, writeSweepReport } from '@neuronscope/sweep';
import type { Command } from 'commander';
import { createLog } from '../log.js';
import { guarded, integer } from '../options.js';

/** `neuronscope atlas`. */
export function register(program: Command): void {
  program
    .command('atlas')
    .description(
      "what each selected neuron of a sweep responds to: its top images, cropped to its receptive field (sweep/atlas.html, from the sweep's tables)",
    )
    .option('-o, --out <dir>', 'sweep output directory (default out/sweep)', 'out/sweep')
    .option('--top <n>', `top images per neuron (default ${ATLAS_TOP})`, integer(1))
    .option(
      '--min-support <n>',
      `images a class needs before a neuron's selectivity for it is shown (default ${MIN_SUPPORT})`,
      integer(1),
    )
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const log = createLog(Boolean(o.quiet));
        const paths = sweepPaths(resolve(o.out as string));
        const atlas = await writeAtlas(paths, {
          ...(o.top ? { top: o.top as number } : {}),
          ...(o.minSupport ? { minSupport: o.minSupport as number } : {}),
        });
        await writeSweepReport(paths);
        log.info(`atlas: ${atlas.neurons} neurons from ${atlas.images} images in ${atlas.path}`);
        log.info(`report: ${paths.report} (its neurons link to the atlas)`);
      }),
    );
}
