import { basename, extname, resolve } from 'node:path';
import { UserError } from '@neuronscope/core';
import { addSchedule, listSchedules, loadSweepConfig, removeSchedule, resolveSweep } from '@neuronscope/sweep';
import type { Command } from 'commander';
import { reportError } from '../errors.js';
import { textTable } from '../print.js';
import { addQueueOptions, queueNameOf, queueUrlOf } from '../queue-options.js';

/** `neuronscope schedule`. */
export function register(program: Command): void {
  addQueueOptions(
    program
      .command('schedule')
      .argument('[config]', 'sweep configuration (JSON or YAML) to run on the schedule')
      .description('run a sweep on a cron schedule through the queue (only new or changed images are analysed)'),
    'Redis of the queue',
  )
    .option('--cron <pattern>', 'cron pattern, e.g. "0 3 * * *" (03:00 every day); seconds may lead: "*/30 * * * * *"')
    .option('--tz <zone>', "time zone of the pattern, e.g. Europe/Paris (default: the workers')")
    .option('--id <name>', 'name of the schedule (default: the configuration file name)')
    .option('--list', 'list the schedules')
    .option('--remove <name>', 'remove a schedule')
    .option('--json', 'print JSON')
    .action(async (config: string | undefined, o: Record<string, unknown>) => {
      try {
        const url = (await queueUrlOf(o, true))!;
        const queueName = queueNameOf(o);
        if (o.list) {
          const list = await listSchedules(url, queueName);
          if (o.json) process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
          else if (list.length === 0) process.stdout.write('no schedules\n');
          else {
            const rows = list.map((s) => [
              s.id,
              s.pattern ?? '',
              s.next ? new Date(s.next).toISOString() : '—',
              s.config ?? '',
            ]);
            process.stdout.write(`${textTable(['id', 'cron', 'next run', 'configuration'], rows)}\n`);
          }
          return;
        }
        if (o.remove) {
          const removed = await removeSchedule(url, queueName, o.remove as string);
          if (!removed) throw new UserError(`no schedule named ${o.remove}`);
          process.stdout.write(`removed schedule ${o.remove}\n`);
          return;
        }
        if (!config) throw new UserError('give a sweep configuration file to schedule (or --list, --remove)');
        if (!o.cron) throw new UserError('--cron is required to schedule a sweep');
        const path = resolve(config);
        // Checked now, so that a broken configuration fails here and not at 3 a.m.
        await resolveSweep(await loadSweepConfig(path));
        const id = (o.id as string | undefined) ?? basename(path, extname(path));
        const added = await addSchedule(url, queueName, id, o.cron as string, path, o.tz as string | undefined);
        if (o.json) process.stdout.write(`${JSON.stringify(added, null, 2)}\n`);
        else {
          const next = added.next ? new Date(added.next).toISOString() : '—';
          process.stdout.write(`scheduled ${id}: ${o.cron} -> ${path}; next run ${next} (workers run it)\n`);
        }
      } catch (err) {
        reportError(err);
      }
    });
}
