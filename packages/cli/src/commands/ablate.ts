import { resolve } from 'node:path';
import { UserError } from '@neuronscope/core';
import { type Command, Option } from 'commander';
import { createLog } from '../log.js';
import { guarded, integer, outOption, threadsOption } from '../options.js';
import { type AblateOptions, ablationText, runAblateStage } from '../stages/ablate.js';
import { readRunConfig } from '../stages/perturb.js';
import { runReportStage } from '../stages/report.js';

/** The ablation settings of `explain --ablate [mode] --ablate-random N`, or undefined without `--ablate`. */
export function ablateOf(o: Record<string, unknown>): AblateOptions | undefined {
  if (o.ablate === undefined || o.ablate === false) return undefined;
  const mode = o.ablate === true ? 'zero' : o.ablate;
  if (mode !== 'zero' && mode !== 'mean') throw new UserError(`--ablate ${String(mode)}: use zero or mean`);
  return {
    mode,
    random: (o.ablateRandom as number | undefined) ?? 100,
    seed: o.seed as number,
    pool: 'eligible',
    threads: o.threads as number | undefined,
  };
}

/** `neuronscope ablate`. */
export function register(program: Command): void {
  program
    .command('ablate')
    .description(
      'ablation test of an explained run: switch off the selected channels of each layer, then random ones, on the clean image',
    )
    .addOption(outOption())
    .addOption(
      new Option('--mode <mode>', 'an ablated channel becomes 0, or its mean activation over the copies')
        .choices(['zero', 'mean'])
        .default('zero'),
    )
    .option('--random <n>', 'random k-sets of channels drawn per layer', integer(1), 100)
    .option('--seed <seed>', 'seed of the random sets (default: the run seed)', integer(0))
    .addOption(
      new Option('--pool <pool>', 'draw random sets from eligible channels (all when fewer than k are), or all')
        .choices(['eligible', 'all'])
        .default('eligible'),
    )
    .option('--layers <spec>', "layers to test, among the run's: names, globs, indices or ranges (default: all)")
    .option('--batch-size <n>', 'ablation variants per inference call (default 16)', integer(1))
    .addOption(threadsOption())
    .option('--json', 'print the ablation section of summary.json on stdout')
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const dir = resolve(o.out as string);
        const log = createLog(Boolean(o.quiet));
        const config = await readRunConfig(dir);
        const opts: AblateOptions = {
          mode: o.mode as AblateOptions['mode'],
          random: o.random as number,
          seed: (o.seed as number | undefined) ?? config.perturbation.seed,
          pool: o.pool as AblateOptions['pool'],
          layers: o.layers as string | undefined,
          batchSize: o.batchSize as number | undefined,
          threads: o.threads as number | undefined,
        };
        const summary = await runAblateStage(dir, opts, log);
        const report = await runReportStage(dir);
        if (o.json) process.stdout.write(`${JSON.stringify(summary.ablation, null, 2)}\n`);
        else if (!o.quiet) process.stdout.write(`${ablationText(summary.ablation!)}\nreport: ${report}\n`);
      }),
    );
}
