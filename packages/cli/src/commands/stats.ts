import { resolve } from 'node:path';
import type { Command } from 'commander';
import { guarded, outOption, statsConfigOf, statsOptions } from '../options.js';
import { summaryText } from '../print.js';
import { readRunConfig } from '../stages/perturb.js';
import { runStatsStage } from '../stages/stats.js';

/** `neuronscope stats`. */
export function register(program: Command): void {
  statsOptions(program.command('stats').description('stage 3: metrics, selections and comparison of every neuron'))
    .addOption(outOption())
    .option('--json', 'print summary.json on stdout')
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const dir = resolve(o.out as string);
        const summary = await runStatsStage(dir, await readRunConfig(dir), statsConfigOf(o));
        if (o.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
        else if (!o.quiet) process.stdout.write(`${summaryText(summary)}\n`);
      }),
    );
}
