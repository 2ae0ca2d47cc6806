import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createLog } from '../log.js';
import { addRunOptions, guarded, outOption, runOptionsOf } from '../options.js';
import { writePerturbStage } from '../stages/perturb.js';
import { prepareRun } from '../stages/prepare.js';

/** `neuronscope perturb`. */
export function register(program: Command): void {
  addRunOptions(program.command('perturb').description('stage 1: write run.json and the perturbation table'))
    .addOption(outOption())
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const run = await prepareRun(runOptionsOf(o));
        await writePerturbStage(resolve(o.out as string), run);
        createLog(Boolean(o.quiet)).info(`perturb: ${run.config.perturbation.samples} copies described in ${o.out}`);
      }),
    );
}
