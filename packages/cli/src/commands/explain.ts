import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createLog } from '../log.js';
import {
  addRunOptions,
  guarded,
  outOption,
  runOptionsOf,
  statsConfigOf,
  statsOptions,
  threadsOption,
} from '../options.js';
import { summaryText } from '../print.js';
import { explain } from '../stages/explain.js';

/** `neuronscope explain`. */
export function register(program: Command): void {
  statsOptions(addRunOptions(program.command('explain').description('run perturb, extract, stats and report')))
    .addOption(outOption())
    .addOption(threadsOption())
    .option('--dump-inputs', 'also write inputs.npy: the exact float32 tensors fed to the model')
    .option('--no-cache', 'neither reuse nor store cached activation tables')
    .option('--cache-dir <dir>', 'activation-table cache (default: $NEURONSCOPE_CACHE_DIR or ~/.cache/neuronscope)')
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
            dumpInputs: Boolean(o.dumpInputs),
            cache: o.cache as boolean,
            cacheDir: o.cacheDir as string | undefined,
          },
          log,
        );
        if (o.json) process.stdout.write(`${JSON.stringify(result.summary, null, 2)}\n`);
        else if (!o.quiet) process.stdout.write(`${summaryText(result.summary)}\nreport: ${result.reportPath}\n`);
      }),
    );
}
