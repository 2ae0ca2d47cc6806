import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { finalizeSweep, sweepPaths } from '@neuronscope/sweep';
import type { Command } from 'commander';
import { guarded, integer } from '../options.js';
import { aggregateText } from './sweep.js';

/** `neuronscope aggregate`. */
export function register(program: Command): void {
  program
    .command('aggregate')
    .description("compact a sweep's per-image results and write its dataset-level tables and report.html")
    .option('-o, --out <dir>', 'sweep output directory (default out/sweep)', 'out/sweep')
    .option('--partial', 'record images without a result as failed instead of stopping')
    .option('--resamples <n>', 'bootstrap resamples of the confidence intervals (default 2000)', integer(100))
    .option('--json', 'print aggregate.json on stdout')
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const paths = sweepPaths(resolve(o.out as string));
        const result = await finalizeSweep(paths, {
          missing: o.partial ? () => 'not analysed yet' : undefined,
          resamples: o.resamples as number | undefined,
        });
        if (o.json) process.stdout.write(await readFile(paths.aggregateJson, 'utf8'));
        else if (!o.quiet) process.stdout.write(`${aggregateText(result.aggregate, paths.dir)}\n`);
      }),
    );
}
