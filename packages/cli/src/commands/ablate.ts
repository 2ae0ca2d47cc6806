import type { AblationSummary } from '@neuronscope/core';
import { type AblateOptions, ablateStage, DEFAULTS, readRunConfig, writeReport } from '@neuronscope/engine';
import { type Command, Option } from 'commander';
import { createLog } from '../log.js';
import { absolute, guarded, integer, outOption, threadsOption } from '../options.js';

/** A plain-text table of an ablation summary, for the terminal. */
export function ablationText(a: AblationSummary): string {
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(0)}%`);
  const num = (x: number | null | undefined) => (x === null || x === undefined ? '—' : x.toFixed(4));
  const lines = [
    `ablation (${a.mode}) of the top-${a.k} sets vs ${a.randomSets} random ${a.k}-sets per layer; target ${a.target}, clean probability ${a.cleanProbability.toFixed(4)}`,
    'index  layer  drop(corr) pct  drop(prec) pct  random mean [p5, p95]',
  ];
  for (const l of a.layers) {
    lines.push(
      `${l.layerIndex}  ${l.layer}  ${num(l.correlation?.drop)} ${pct(l.correlation?.percentile)}  ${num(l.precision?.drop)} ${pct(l.precision?.percentile)}  ${num(l.random.mean)} [${num(l.random.p5)}, ${num(l.random.p95)}]`,
    );
  }
  lines.push(
    `selected set above the random 95th percentile: correlation ${a.totals.correlationAboveP95}/${a.totals.layers}, precision ${a.totals.precisionAboveP95}/${a.totals.layers}`,
  );
  return lines.join('\n');
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
        .default(DEFAULTS.ablateMode),
    )
    .option('--random <n>', 'random k-sets of channels drawn per layer', integer(1), DEFAULTS.ablateRandom)
    .option('--seed <seed>', 'seed of the random sets (default: the run seed)', integer(0))
    .addOption(
      new Option('--pool <pool>', 'draw random sets from eligible channels (all when fewer than k are), or all')
        .choices(['eligible', 'all'])
        .default(DEFAULTS.ablatePool),
    )
    .option('--layers <spec>', "layers to test, among the run's: names, globs, indices or ranges (default: all)")
    .option('--batch-size <n>', 'ablation variants per inference call', integer(1), DEFAULTS.ablateBatchSize)
    .addOption(threadsOption())
    .option('--json', 'print the ablation section of summary.json on stdout')
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const dir = absolute(o.out)!;
        const log = createLog(Boolean(o.quiet));
        const { config } = await readRunConfig(dir);
        const opts: AblateOptions = {
          mode: o.mode as AblateOptions['mode'],
          random: o.random as number,
          seed: (o.seed as number | undefined) ?? config.perturbation.seed,
          pool: o.pool as AblateOptions['pool'],
          layers: o.layers as string | undefined,
          batchSize: o.batchSize as number,
        };
        const summary = await ablateStage(dir, { ...opts, threads: o.threads as number | undefined }, log);
        const report = (await writeReport(dir)).path;
        if (o.json) process.stdout.write(`${JSON.stringify(summary.ablation, null, 2)}\n`);
        else if (!o.quiet) process.stdout.write(`${ablationText(summary.ablation!)}\nreport: ${report}\n`);
      }),
    );
}
