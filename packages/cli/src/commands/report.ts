import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createLog } from '../log.js';
import { guarded, outOption } from '../options.js';
import { runReportStage } from '../stages/report.js';

/** `neuronscope report`. */
export function register(program: Command): void {
  program
    .command('report')
    .description('stage 4: write report.html from summary.json, the tables, maps.parquet and the model graph')
    .addOption(outOption())
    .option('--figures <dir>', 'also write every figure (charts, boxes, heat maps) as SVG and PNG into <dir>')
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const log = createLog(Boolean(o.quiet));
        const figures = o.figures === undefined ? undefined : resolve(o.figures as string);
        const path = await runReportStage(resolve(o.out as string), { figures }, log);
        log.info(`report: ${path}`);
      }),
    );
}
