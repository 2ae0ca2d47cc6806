/**
 * An error caused by the user's input (a missing file, a bad flag, a model we cannot use).
 * The CLI prints its message as one line and exits non-zero, without a stack trace.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
}

/** Throws a {@link UserError} with `message` unless `condition` holds. */
export function ensure(condition: unknown, message: string): asserts condition {
  if (!condition) throw new UserError(message);
}
