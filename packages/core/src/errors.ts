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

/** What the common errno codes mean, in words. */
const OS_ERRORS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  ENOTDIR: 'a file is in the way (not a folder)',
  EISDIR: 'is a folder',
  ENOENT: 'no such file or folder',
  EEXIST: 'already exists',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'name too long',
  EIO: 'input/output error',
  EBUSY: 'busy',
};

/**
 * One line for an error the operating system raised (a Node fs/net error with a code): what failed, on which path,
 * and why in words; null for any other error.
 */
export function osErrorLine(err: unknown): string | null {
  const e = err as NodeJS.ErrnoException;
  if (!(err instanceof Error) || typeof e.code !== 'string' || !(e.code in OS_ERRORS)) return null;
  const what = e.syscall ? `${e.syscall} ` : '';
  const where = e.path ? `${e.path}: ` : '';
  return `cannot ${what}${where}${OS_ERRORS[e.code]} (${e.code})`;
}
