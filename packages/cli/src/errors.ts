import { osErrorLine, UserError } from '@neuronscope/core';

/** Exit codes of `neuronscope` (documented in the README). */
export const EXIT = {
  ok: 0,
  /** A bug: please report it (run with NEURONSCOPE_DEBUG=1 for the stack). */
  internal: 1,
  /** Bad input: a missing or invalid file, option or setting. */
  input: 2,
  /** The system refused: permission, a full disk, a read-only or missing folder. */
  system: 3,
  /** A sweep finished, but some of its images could not be analysed (see images.parquet). */
  imagesFailed: 4,
} as const;

/**
 * Turns any error into the one line the user sees. User errors speak for themselves; errors of the operating system
 * say what failed where; anything else is reported as an internal error (with the stack only when
 * NEURONSCOPE_DEBUG is set).
 */
export function errorLine(err: unknown): string {
  if (err instanceof UserError) return err.message;
  const os = osErrorLine(err);
  if (os) return os;
  const message = err instanceof Error ? err.message : String(err);
  return `internal error: ${message.split('\n')[0]}`;
}

/** The exit code of an error. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof UserError) return EXIT.input;
  return osErrorLine(err) ? EXIT.system : EXIT.internal;
}

/** Prints `err` as one line on stderr and sets a non-zero exit code. */
export function reportError(err: unknown): void {
  process.stderr.write(`neuronscope: error: ${errorLine(err)}\n`);
  if (process.env.NEURONSCOPE_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = exitCodeOf(err);
}
