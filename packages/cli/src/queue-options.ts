/** The queue flags of `sweep`, `worker`, `status` and `schedule`: where the Redis is, and its password, kept secret. */
import { readFile } from 'node:fs/promises';
import { UserError } from '@neuronscope/core';
import { DEFAULT_QUEUE_NAME, redactUrl } from '@neuronscope/sweep';
import type { Command } from 'commander';

/** Adds `--queue [url]`, `--queue-password-file` and `--queue-name`. */
export function addQueueOptions(cmd: Command, what: string): Command {
  return cmd
    .option('--queue [url]', `${what} (redis://host:port; without a URL: $REDIS_URL)`)
    .option(
      '--queue-password-file <file>',
      'the Redis password, read from this file (a password in --queue shows in `ps` and shell history)',
    )
    .option('--queue-name <name>', `BullMQ queue (default ${DEFAULT_QUEUE_NAME})`);
}

/**
 * The Redis URL of a command: `--queue <url>`, else `$REDIS_URL` (when `--queue` has no value, or is not needed as a
 * flag: `needed`), with the password of `--queue-password-file` set in it. Null when no queue is asked for.
 */
export async function queueUrlOf(o: Record<string, unknown>, needed: boolean): Promise<string | null> {
  const given = typeof o.queue === 'string' ? o.queue : o.queue === true || needed ? process.env.REDIS_URL : undefined;
  if (given === undefined) {
    if (o.queue === true || needed) throw new UserError('give --queue redis://host:port, or set REDIS_URL');
    return null;
  }
  if (!/^rediss?:\/\//.test(given))
    throw new UserError(`--queue ${redactUrl(given)}: expected a redis://host:port URL`);
  if (typeof o.queue === 'string' && redactUrl(given) !== given) {
    process.stderr.write(
      'neuronscope: warning: the password in --queue shows in `ps`; use REDIS_URL or --queue-password-file\n',
    );
  }
  if (typeof o.queuePasswordFile !== 'string') return given;
  const password = (
    await readFile(o.queuePasswordFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new UserError(`cannot read --queue-password-file ${o.queuePasswordFile}: ${err.code ?? err.message}`);
    })
  ).trim();
  if (password === '' || /[\r\n]/.test(password))
    throw new UserError('--queue-password-file must hold one line, the password');
  const url = new URL(given);
  url.password = password;
  return url.toString();
}

/** The queue name of a command. */
export const queueNameOf = (o: Record<string, unknown>) => (o.queueName as string | undefined) ?? DEFAULT_QUEUE_NAME;
