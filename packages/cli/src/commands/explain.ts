import { explainToFolder } from '@neuronscope/engine';
import type { Command } from 'commander';
import { createLog } from '../log.js';
import {
  ablateOf,
  absolute,
  addCacheOptions,
  addDeconvOptions,
  addMapsOptions,
  addRunOptions,
  boxesOf,
  boxesOption,
  deconvOptionsOf,
  guarded,
  integer,
  mapsOptionsOf,
  outOption,
  runOptionsOf,
  runtimeOf,
  statsOptions,
  threadsOption,
  workersOption,
} from '../options.js';
import { summaryText } from '../print.js';

/** `neuronscope explain`. */
export function register(program: Command): void {
  addCacheOptions(
    addDeconvOptions(
      addMapsOptions(
        statsOptions(
          addRunOptions(program.command('explain').description('run perturb, extract, stats, deconv, maps and report')),
        ),
      ),
    ),
  )
    .addOption(outOption())
    .addOption(threadsOption())
    .addOption(workersOption())
    .option('--dump-inputs', 'also write inputs.npy: the exact float32 tensors fed to the model')
    .option('--keep-unit-stats', 'also write unit_stats.parquet: the per-unit moments (one row per unit, big)')
    .option('--ablate [mode]', 'also run the ablation test (see ablate): zero (default) or mean')
    .option('--ablate-random <n>', 'random channel sets per layer for --ablate', integer(1), 100)
    .option('--no-deconv', 'skip the deconvnet projections (deconv.parquet)')
    .addOption(boxesOption())
    .option('--figures <dir>', 'also write every figure of the report as SVG and PNG into <dir>')
    .option('--json', 'print summary.json on stdout')
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const log = createLog(Boolean(o.quiet));
        const result = await explainToFolder(
          {
            ...runOptionsOf(o),
            ...runtimeOf(o),
            out: absolute(o.out)!,
            dumpInputs: Boolean(o.dumpInputs),
            keepUnitStats: Boolean(o.keepUnitStats),
            ablate: ablateOf(o),
            maps: mapsOptionsOf(o),
            deconv: o.deconv === false ? false : deconvOptionsOf(o),
            boxes: boxesOf(o),
            figures: absolute(o.figures),
          },
          log,
        );
        if (o.json) process.stdout.write(`${JSON.stringify(result.summary, null, 2)}\n`);
        else if (!o.quiet) process.stdout.write(`${summaryText(result.summary)}\nreport: ${result.reportPath}\n`);
      }),
    );
}
