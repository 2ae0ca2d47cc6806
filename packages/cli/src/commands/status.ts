import { resolve } from 'node:path';
import { UserError } from '@neuronscope/core';
import { type QueueStatus, queueStatus, sweepProgress } from '@neuronscope/sweep';
import type { Command } from 'commander';
import { guarded } from '../options.js';
import { addQueueOptions, queueNameOf, queueUrlOf } from '../queue-options.js';

function statusText(s: Partial<QueueStatus>): string {
  const lines: string[] = [];
  if (s.counts) {
    const c = s.counts;
    lines.push(
      `queue ${s.queue}: ${c.waiting ?? 0} waiting, ${c.active ?? 0} active, ${c.completed ?? 0} completed, ` +
        `${c.failed ?? 0} failed, ${c.delayed ?? 0} delayed (retrying), ${c['waiting-children'] ?? 0} aggregations waiting`,
    );
    for (const a of s.active ?? []) lines.push(`  active: ${a.name} ${a.id} (${JSON.stringify(a.progress)} done)`);
    for (const sc of s.schedulers ?? []) {
      lines.push(`  schedule ${sc.id}: ${sc.pattern}, next ${sc.next ? new Date(sc.next).toISOString() : '—'}`);
    }
  }
  if (s.sweep) {
    const w = s.sweep;
    const pct = w.total ? ((100 * w.done) / w.total).toFixed(1) : '0';
    lines.push(
      `sweep: ${w.done}/${w.total} images done (${pct}%): ${w.ok} analysed, ${w.error} errors, ${w.failed} failed; ` +
        (w.compacted ? 'tables written' : 'tables not written yet'),
    );
    if (w.lost) {
      lines.push(
        `  ${w.lost} images are not done and no job of the queue will analyse them: the queue lost them ` +
          '(Redis restarted without persistence?); run the same `neuronscope sweep ... --queue` again to enqueue them',
      );
    }
  }
  return lines.join('\n');
}

/** `neuronscope status`. */
export function register(program: Command): void {
  addQueueOptions(
    program
      .command('status')
      .description('progress of a sweep: its queue (jobs by state, schedules) and/or its output directory'),
    'Redis of the queue',
  )
    .option('-o, --out <dir>', 'sweep output directory: images done of its plan')
    .option('--json', 'print the status as JSON')
    .action(
      guarded(async (o) => {
        const out = o.out ? resolve(o.out as string) : undefined;
        let status: Partial<QueueStatus>;
        const url = await queueUrlOf(o, false);
        if (url) status = await queueStatus(url, queueNameOf(o), out);
        else if (out) status = { sweep: await sweepProgress(out) };
        else throw new UserError('give --queue, --out, or both');
        process.stdout.write(o.json ? `${JSON.stringify(status, null, 2)}\n` : `${statusText(status)}\n`);
      }),
    );
}
