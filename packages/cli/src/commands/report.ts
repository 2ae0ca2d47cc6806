import { writeReport } from '@neuronscope/engine';
import type { Command } from 'commander';
import { createLog } from '../log.js';
import { absolute, boxesOf, boxesOption, guarded, outOption } from '../options.js';

/** `neuronscope report`. */
export function register(program: Command): void {
  program
    .command('report')
    .description(
      'stage 4: write report.html from summary.json, the tables, maps.parquet, deconv.parquet and the model graph',
    )
    .addOption(outOption())
    .option(
      '--figures <dir>',
      'also write every figure (charts, boxes, heat maps, deconvnet projections) as SVG and PNG into <dir>',
    )
    .addOption(boxesOption())
    .option(
      '--atlas <path>',
      "link each neuron's card to its dataset examples: a sweep folder with an atlas, or its atlas.html",
    )
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const log = createLog(Boolean(o.quiet));
        const figures = absolute(o.figures);
        const atlas = absolute(o.atlas);
        const report = await writeReport(absolute(o.out)!, {
          boxes: boxesOf(o),
          ...(figures ? { figures } : {}),
          ...(atlas ? { atlas } : {}),
        });
        if (figures) log.info(`report: ${report.figures} figures (SVG and PNG) in ${figures}`);
        if (report.notes.atlas) log.info(`report: ${report.notes.atlas}`);
        log.info(`report: ${report.path}`);
      }),
    );
}
