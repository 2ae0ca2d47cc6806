import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createLog } from '../log.js';
import { guarded, outOption, threadsOption, workersOption } from '../options.js';
import { runExtractStage } from '../stages/extract.js';
import { readRunConfig } from '../stages/perturb.js';

/** `neuronscope extract`. */
export function register(program: Command): void {
  program
    .command('extract')
    .description('stage 2: run the copies through the model; write the output, activation and moments tables')
    .addOption(outOption())
    .addOption(threadsOption())
    .addOption(workersOption())
    .option('--dump-inputs', 'also write inputs.npy: the exact float32 tensors fed to the model')
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const dir = resolve(o.out as string);
        const log = createLog(Boolean(o.quiet));
        const config = await readRunConfig(dir);
        const result = await runExtractStage(
          dir,
          config,
          {
            threads: o.threads as number | undefined,
            workers: o.workers as number | undefined,
            dumpInputs: Boolean(o.dumpInputs),
          },
          log,
        );
        log.info(`extract: ${result.samplesUsed} copies; wrote ${result.files.join(', ')} in ${o.out}`);
      }),
    );
}
