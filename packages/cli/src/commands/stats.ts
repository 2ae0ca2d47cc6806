import { statsStage } from '@neuronscope/engine';
import type { Command } from 'commander';
import { absolute, guarded, outOption, statsConfigOf, statsOptions } from '../options.js';
import { summaryText } from '../print.js';

/** `neuronscope stats`. */
export function register(program: Command): void {
  statsOptions(program.command('stats').description('stage 3: metrics, selections and comparison of every neuron'))
    .addOption(outOption())
    .option('--json', 'print summary.json on stdout')
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const summary = await statsStage(absolute(o.out)!, statsConfigOf(o));
        if (o.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
        else if (!o.quiet) process.stdout.write(`${summaryText(summary)}\n`);
      }),
    );
}
