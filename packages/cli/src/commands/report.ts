import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createLog } from '../log.js';
import { guarded, outOption } from '../options.js';
import { runReportStage } from '../stages/report.js';

/** `neuronscope report`. */
export function register(program: Command): void {
  program
    .command('report')
    .description('stage 4: write report.html from summary.json and neurons.parquet')
    .addOption(outOption())
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const path = await runReportStage(resolve(o.out as string));
        createLog(Boolean(o.quiet)).info(`report: ${path}`);
      }),
    );
}
