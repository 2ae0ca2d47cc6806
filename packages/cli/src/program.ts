import { resolve } from 'node:path';
import type { StatsConfig } from '@neuronscope/core';
import { Command, Option } from 'commander';
import { reportError } from './errors.js';
import { createLog } from './log.js';
import { addModelOptions, addRunOptions, integer, modelOptionsOf, number, runOptionsOf } from './options.js';
import { layersText, summaryText } from './print.js';
import { explain } from './stages/explain.js';
import { runExtractStage } from './stages/extract.js';
import { readRunConfig, writePerturbStage } from './stages/perturb.js';
import { prepareModel, prepareRun } from './stages/prepare.js';
import { runReportStage } from './stages/report.js';
import { runStatsStage, TOOL } from './stages/stats.js';

type Opts = Record<string, unknown>;

const outOption = () =>
  new Option('-o, --out <dir>', 'run directory: every stage reads and writes its files here').default('out/run');
const statsOptions = (cmd: Command) =>
  cmd
    .option('-k, --top-k <k>', 'neurons selected per layer by each metric', integer(1), 5)
    .option('--eligibility <a>', 'precision needs a mean activation of at least this', number, 0.1);
const threadsOption = () =>
  new Option('--threads <n>', 'onnxruntime intra-op threads (default: all cores)').argParser(integer(1));
const statsConfigOf = (o: Opts): StatsConfig => ({ topK: o.topK as number, eligibility: o.eligibility as number });

/** Runs `action`, turning any failure into a one-line error and a non-zero exit code. */
const guarded =
  (action: (o: Opts) => Promise<void>) =>
  async (o: Opts): Promise<void> => {
    try {
      await action(o);
    } catch (err) {
      reportError(err);
    }
  };

/** The `neuronscope` command line. */
export function buildProgram(): Command {
  const program = new Command('neuronscope')
    .description(
      "Explain a CNN's prediction through its own neurons, by input resampling (Lengerich, Konam et al. 2017).",
    )
    .version(TOOL.split(' ')[1] ?? '0.0.0')
    // Every error is one line, prefixed like ours.
    .configureOutput({ outputError: (text, write) => write(`neuronscope: ${text.trim()}\n`) });

  addModelOptions(program.command('layers').description('list the recordable layers of a model'))
    .option('--json', 'print the layers as JSON')
    .action(
      guarded(async (o) => {
        const context = await prepareModel(modelOptionsOf(o));
        if (o.json) process.stdout.write(`${JSON.stringify(context.layers, null, 2)}\n`);
        else process.stdout.write(`${context.model.path}\n${layersText(context.layers)}\n`);
      }),
    );

  addRunOptions(program.command('perturb').description('stage 1: write run.json and the perturbation table'))
    .addOption(outOption())
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const run = await prepareRun(runOptionsOf(o));
        await writePerturbStage(resolve(o.out as string), run);
        createLog(Boolean(o.quiet)).info(`perturb: ${run.config.perturbation.samples} copies described in ${o.out}`);
      }),
    );

  program
    .command('extract')
    .description('stage 2: run the copies through the model; write the output, activation and moments tables')
    .addOption(outOption())
    .addOption(threadsOption())
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
          { threads: o.threads as number | undefined, dumpInputs: Boolean(o.dumpInputs) },
          log,
        );
        log.info(`extract: wrote ${result.files.join(', ')} in ${o.out}`);
      }),
    );

  statsOptions(program.command('stats').description('stage 3: metrics, selections and comparison of every neuron'))
    .addOption(outOption())
    .option('--json', 'print summary.json on stdout')
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const dir = resolve(o.out as string);
        const summary = await runStatsStage(dir, await readRunConfig(dir), statsConfigOf(o));
        if (o.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
        else if (!o.quiet) process.stdout.write(`${summaryText(summary)}\n`);
      }),
    );

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

  return program;
}

/** Parses `argv` and runs the command; the exit code is left in `process.exitCode`. */
export async function runCli(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv as string[]);
  } catch (err) {
    // commander has already printed its one-line message; keep its exit code (0 for --help and --version).
    const code = (err as { exitCode?: number }).exitCode;
    process.exitCode = code ?? 1;
  }
}
