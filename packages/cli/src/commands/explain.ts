import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createLog } from '../log.js';
import {
  addRunOptions,
  guarded,
  integer,
  outOption,
  runOptionsOf,
  statsConfigOf,
  statsOptions,
  threadsOption,
  workersOption,
} from '../options.js';
import { summaryText } from '../print.js';
import { explain } from '../stages/explain.js';
import { ablateOf } from './ablate.js';
import { addMapsOptions, mapsOptionsOf } from './maps.js';

/** `neuronscope explain`. */
export function register(program: Command): void {
  addMapsOptions(
    statsOptions(addRunOptions(program.command('explain').description('run perturb, extract, stats, maps and report'))),
  )
    .addOption(outOption())
    .addOption(threadsOption())
    .addOption(workersOption())
    .option('--dump-inputs', 'also write inputs.npy: the exact float32 tensors fed to the model')
    .option('--no-cache', 'neither reuse nor store cached activation tables')
    .option('--cache-dir <dir>', 'activation-table cache (default: $NEURONSCOPE_CACHE_DIR or ~/.cache/neuronscope)')
    .option('--ablate [mode]', 'also run the ablation test (see ablate): zero (default) or mean')
    .option('--ablate-random <n>', 'random channel sets per layer for --ablate', integer(1), 100)
    .option('--figures <dir>', 'also write every figure of the report as SVG and PNG into <dir>')
    .option('--json', 'print summary.json on stdout')
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const log = createLog(Boolean(o.quiet));
        const result = await explain(
          {
            ...runOptionsOf(o),
            out: resolve(o.out as string),
            stats: statsConfigOf(o),
            threads: o.threads as number | undefined,
            workers: o.workers as number | undefined,
            dumpInputs: Boolean(o.dumpInputs),
            cache: o.cache as boolean,
            cacheDir: o.cacheDir as string | undefined,
            ablate: ablateOf(o),
            maps: mapsOptionsOf(o),
            figures: o.figures === undefined ? undefined : resolve(o.figures as string),
          },
          log,
        );
        if (o.json) process.stdout.write(`${JSON.stringify(result.summary, null, 2)}\n`);
        else if (!o.quiet) process.stdout.write(`${summaryText(result.summary)}\nreport: ${result.reportPath}\n`);
      }),
    );
}
