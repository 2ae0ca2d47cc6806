import { UserError } from '@neuronscope/core';

/**
 * Turns any error into the one line the user sees. User errors speak for themselves; anything else is reported as
 * an internal error (with the stack only when NEURONSCOPE_DEBUG is set).
 */
export function errorLine(err: unknown): string {
  if (err instanceof UserError) return err.message;
  const message = err instanceof Error ? err.message : String(err);
  return `internal error: ${message.split('\n')[0]}`;
}

/** Prints `err` as one line on stderr and sets a non-zero exit code. */
export function reportError(err: unknown): void {
  process.stderr.write(`neuronscope: error: ${errorLine(err)}\n`);
  if (process.env.NEURONSCOPE_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = err instanceof UserError ? 2 : 1;
}
