import { perturbStage } from '@neuronscope/engine';
import type { Command } from 'commander';
import { createLog } from '../log.js';
import { absolute, addRunOptions, guarded, outOption, runOptionsOf, statsOptions } from '../options.js';

/** `neuronscope perturb`. */
export function register(program: Command): void {
  statsOptions(
    addRunOptions(program.command('perturb').description('stage 1: write run.json and the perturbation table')),
  )
    .addOption(outOption())
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const config = await perturbStage({ ...runOptionsOf(o), out: absolute(o.out)! });
        createLog(Boolean(o.quiet)).info(`perturb: ${config.perturbation.samples} copies described in ${o.out}`);
      }),
    );
}
