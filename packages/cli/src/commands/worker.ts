import { redactUrl, startWorker } from '@neuronscope/sweep';
import type { Command } from 'commander';
import { createLog } from '../log.js';
import { guarded, integer, threadsOption, workersOption } from '../options.js';
import { addQueueOptions, queueNameOf, queueUrlOf } from '../queue-options.js';

/** `neuronscope worker`. */
export function register(program: Command): void {
  addQueueOptions(
    program
      .command('worker')
      .description(
        'process queued sweep jobs (images, aggregation, schedules) until stopped; run on any number of machines',
      ),
    'Redis of the queue',
  )
    .addOption(threadsOption())
    .addOption(workersOption())
    .option('--concurrency <n>', 'jobs processed at once by this process (default 1)', integer(1))
    .option(
      '--lock-duration <ms>',
      "a job's lock; a killed worker's job is taken back after it (default 30000)",
      integer(100),
    )
    .option('--stalled-interval <ms>', 'how often stalled jobs are looked for (default 30000)', integer(100))
    .option('--max-stalled <n>', 'how often a job may stall before it is failed (default 1)', integer(0))
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const log = createLog(Boolean(o.quiet));
        const url = (await queueUrlOf(o, true))!;
        const running = await startWorker({
          url,
          queueName: queueNameOf(o),
          concurrency: o.concurrency as number | undefined,
          lockDuration: o.lockDuration as number | undefined,
          stalledInterval: o.stalledInterval as number | undefined,
          maxStalledCount: o.maxStalled as number | undefined,
          workers: o.workers as number | undefined,
          threads: o.threads as number | undefined,
          log,
        });
        log.info(`worker: ${process.pid} waiting for jobs on ${redactUrl(url)} (queue ${queueNameOf(o)})`);
        await new Promise<void>((done) => {
          const stop = () => {
            log.info('worker: finishing the current job, then stopping');
            running.close().then(done, done);
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      }),
    );
}
