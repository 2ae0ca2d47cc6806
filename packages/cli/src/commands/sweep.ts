import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { UserError } from '@neuronscope/core';
import { DEFAULTS } from '@neuronscope/engine';
import {
  type AggregateResult,
  type Analyser,
  createAnalyser,
  enqueueSweep,
  finalizeSweep,
  loadSweepConfig,
  planSweep,
  redactUrl,
  resolveSweep,
  runLocalSweep,
  type SweepConfig,
  waitForJob,
} from '@neuronscope/sweep';
import { type Command, Option } from 'commander';
import { EXIT, reportError } from '../errors.js';
import { createLog } from '../log.js';
import { addModelOptions, integer, number, paramOption, threadsOption, workersOption } from '../options.js';
import { textTable } from '../print.js';
import { addQueueOptions, queueNameOf, queueUrlOf } from '../queue-options.js';

/** Options of a command that defines a sweep (flags override the configuration file). */
export function addSweepOptions(cmd: Command): Command {
  return addModelOptions(cmd)
    .option('-s, --source <source>', 'images: a folder, a glob, a .csv/.jsonl manifest or an IDX file (.gz)')
    .option('--offset <n>', 'skip the first n images of the (sorted) source', integer(0))
    .option('--limit <n>', 'take at most n images', integer(1))
    .option(
      '--perturb <family>',
      `perturbation family: paper, gaussian, multiplicative, mask (default ${DEFAULTS.perturb})`,
    )
    .option(
      '-n, --samples <N>',
      `number of copies N per image, the clean copy included (default ${DEFAULTS.samples})`,
      integer(3),
    )
    .option('--seed <seed>', `random seed (default ${DEFAULTS.seed})`, integer(0))
    .option('--sigma <sigma>', 'noise scale of the family (shortcut for --param sigma=...)', number)
    .option('--param <key=value>', 'family parameter, repeatable', paramOption)
    .option('--target <target>', "'prediction' (default), 'label', or a class index or label")
    .addOption(
      new Option('--output <kind>', `network output y (default ${DEFAULTS.output})`).choices([
        'prob',
        'logit',
        'logprob',
      ]),
    )
    .option('--batch-size <n>', 'copies per inference call', integer(1))
    .option('-k, --top-k <k>', `neurons selected per layer by each metric (default ${DEFAULTS.topK})`, integer(1))
    .option(
      '--eligibility <a>',
      `precision needs a mean activation of at least this (default ${DEFAULTS.eligibility})`,
      number,
    )
    .option('-o, --out <dir>', 'output directory; the tables go to <out>/sweep/ (default out/sweep)')
    .option('--no-cache', 'neither reuse nor store cached activation tables')
    .option('--cache-dir <dir>', 'activation-table cache (default: $NEURONSCOPE_CACHE_DIR or ~/.cache/neuronscope)');
}

type Opts = Record<string, unknown>;
const abs = (p: unknown) => (typeof p === 'string' ? (isAbsolute(p) ? p : resolve(p)) : undefined);
const defined = <T extends object>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

/** The configuration file (if any) with the command-line flags laid over it. */
export async function sweepConfigOf(configPath: string | undefined, o: Opts, cmd: Command): Promise<SweepConfig> {
  const file: Partial<SweepConfig> = configPath ? await loadSweepConfig(resolve(configPath)) : {};
  const source = abs(o.source) ?? file.source;
  if (source === undefined) throw new UserError('give a sweep configuration file or --source');
  const params = { ...(file.perturbation?.params ?? {}), ...((o.param as Record<string, unknown>) ?? {}) };
  if (o.sigma !== undefined) params.sigma = o.sigma;
  const fromCli = (name: string) => cmd.getOptionValueSource(name) === 'cli';
  const config: SweepConfig = {
    ...file,
    source,
    ...defined({
      out: abs(o.out),
      model: abs(o.model),
      labels: abs(o.labels),
      background: o.background as boolean | undefined,
      layers: o.layers as string | undefined,
      target: o.target as string | undefined,
      output: o.output as SweepConfig['output'],
      batchSize: o.batchSize as number | undefined,
      cacheDir: abs(o.cacheDir),
      cache: fromCli('cache') ? (o.cache as boolean) : undefined,
      shardSize: o.shardSize as number | undefined,
      attempts: o.attempts as number | undefined,
    }),
    preprocess: defined({
      ...(file.preprocess ?? {}),
      ...defined({
        preset: o.preprocess as NonNullable<SweepConfig['preprocess']>['preset'],
        size: o.size as [number, number] | undefined,
        mean: o.mean as number[] | undefined,
        std: o.std as number[] | undefined,
        layout: o.layout as 'NCHW' | 'NHWC' | undefined,
        grayscale: o.grayscale as boolean | undefined,
        channelOrder: o.channelOrder as 'RGB' | 'BGR' | undefined,
      }),
    }),
    perturbation: {
      ...(file.perturbation ?? {}),
      ...defined({
        family: o.perturb as string | undefined,
        samples: o.samples as number | undefined,
        seed: o.seed as number | undefined,
      }),
      params,
    },
    metrics: {
      ...(file.metrics ?? {}),
      ...defined({ topK: o.topK as number | undefined, eligibility: o.eligibility as number | undefined }),
    },
  };
  return config;
}

const fmt = (x: number | null | undefined, digits = 3) =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits);

/** The dataset-level answer as text. */
export function aggregateText(a: AggregateResult, dir: string): string {
  const c = a.counts;
  const ci = (v: { mean: number; low: number; high: number }) => `${fmt(v.mean)} [${fmt(v.low)}, ${fmt(v.high)}]`;
  return [
    `images: ${c.images} (${c.ok} analysed, ${c.error} errors, ${c.failed} failed)` +
      (c.labelled ? `; top-1 accuracy ${fmt((100 * c.correct) / c.labelled, 1)}% on ${c.labelled} labelled` : ''),
    '',
    'class selectivity (AUROC for the target class) of the selected neurons, mean [95% CI] over images:',
    textTable(
      ['layer', 'images', 'by correlation', 'by precision', 'precision - correlation', 'baseline'],
      a.rows.map((r) => [
        r.layerIndex >= 0 ? `${r.layerIndex} ${r.layer}` : r.layer,
        String(r.images),
        ci(r.correlation),
        ci(r.precision),
        ci(r.difference),
        fmt(r.baseline),
      ]),
    ),
    '',
    `tables and report in ${dir}`,
  ].join('\n');
}

/**
 * A sweep that finished with images it could not analyse says how many, on one line, and exits with
 * {@link EXIT.imagesFailed}: a batch job must not read it as a complete success.
 */
function reportFailedImages(counts: AggregateResult['counts'], dir: string): void {
  const bad = counts.error + counts.failed;
  if (bad === 0) return;
  process.stderr.write(
    `neuronscope: ${bad} of ${counts.images} images could not be analysed (${counts.error} errors, ${counts.failed} failed): ` +
      `see ${dir}/images.parquet; --retry-failed analyses them again\n`,
  );
  process.exitCode = EXIT.imagesFailed;
}

/** `neuronscope sweep`. */
export function register(program: Command): void {
  addQueueOptions(
    addSweepOptions(
      program
        .command('sweep')
        .argument('[config]', 'sweep configuration (JSON or YAML); flags override it')
        .description('analyse every image of a folder, glob, manifest or IDX dataset; resumable; dataset-level tables'),
    ),
    'enqueue the images as BullMQ jobs on this Redis and return',
  )
    .addOption(threadsOption())
    .addOption(workersOption())
    .option('--retry-failed', 'analyse again the images recorded with an error')
    .option('--shard-size <n>', 'queue mode: images per job (default 1)', integer(1))
    .option(
      '--attempts <n>',
      'queue mode: attempts of a job before its images are recorded as failed (default 3)',
      integer(1),
    )
    .option('--wait', 'queue mode: wait until the workers have finished and the aggregation is written')
    .option('--json', 'print aggregate.json on stdout')
    .option('-q, --quiet', 'print nothing but errors')
    .action(async (configPath: string | undefined, o: Opts, cmd: Command) => {
      let analyser: Analyser | undefined;
      try {
        const log = createLog(Boolean(o.quiet));
        const resolved = await resolveSweep(await sweepConfigOf(configPath, o, cmd));
        const sweep = {
          ...resolved,
          source: {
            ...resolved.source,
            ...defined({ offset: o.offset as number | undefined, limit: o.limit as number | undefined }),
          },
        };
        analyser = await createAnalyser(sweep.analysis, {
          workers: o.workers as number | undefined,
          threads: o.threads as number | undefined,
          log: (m) => log.info(m),
        });
        const { paths, plan } = await planSweep(sweep, analyser);
        const url = await queueUrlOf(o, false);
        if (url) {
          await analyser.close();
          const queueName = queueNameOf(o);
          const queued = await enqueueSweep(paths, plan, {
            url,
            queueName,
            shardSize: sweep.shardSize,
            attempts: sweep.attempts,
          });
          log.info(
            `sweep: ${plan.items.length} images, ${queued.images} to analyse in ${queued.jobs} jobs on ${redactUrl(url)} (queue ${queueName}); ` +
              `aggregation job ${queued.parentId}`,
          );
          if (!o.wait) {
            log.info(`watch with: neuronscope status --queue ${redactUrl(url)} --out ${sweep.out}`);
            return;
          }
          await waitForJob(url, queueName, queued.parentId);
          const json = await readFile(paths.aggregateJson, 'utf8');
          if (o.json) process.stdout.write(json);
          else if (!o.quiet) log.info(`sweep: done; tables and report in ${paths.dir}`);
          reportFailedImages((JSON.parse(json) as AggregateResult).counts, paths.dir);
          return;
        }
        log.info(`sweep: ${plan.items.length} images from ${sweep.source.path} into ${paths.dir}`);
        const result = await runLocalSweep(paths, plan, analyser, log, { retryFailed: Boolean(o.retryFailed) });
        log.info(
          `sweep: analysed ${result.analysed} images (${result.fromCache} from the cache, ${result.errors} errors), ` +
            `${result.skipped} already done, in ${result.seconds.toFixed(1)} s`,
        );
        const { aggregate } = await finalizeSweep(paths);
        if (o.json) {
          process.stdout.write(await readFile(paths.aggregateJson, 'utf8'));
        } else if (!o.quiet) process.stdout.write(`${aggregateText(aggregate, paths.dir)}\n`);
        reportFailedImages(aggregate.counts, paths.dir);
      } catch (err) {
        reportError(err);
      } finally {
        await analyser?.close();
      }
    });
}
