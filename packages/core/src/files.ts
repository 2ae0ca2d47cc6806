import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Creates `dir` and any missing parents, like `mkdir -p`; returns the first folder it created (undefined when `dir`
 * existed). Node's own recursive mkdir spins forever on a path the kernel refuses with ENOENT under an existing
 * parent (e.g. `/proc/x`); this one fails with that error.
 */
export async function makeDirs(dir: string): Promise<string | undefined> {
  try {
    await mkdir(dir);
    return dir;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if ((await stat(dir)).isDirectory()) return undefined;
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), {
        code: 'ENOTDIR',
        syscall: 'mkdir',
        path: dir,
      });
    }
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    const created = await makeDirs(parent);
    await mkdir(dir).catch(async (again: NodeJS.ErrnoException) => {
      if (again.code !== 'EEXIST' || !(await stat(dir)).isDirectory()) throw again;
    });
    return created ?? dir;
  }
}

/** A temporary path beside `path`: same directory, so the final rename is atomic. */
export function temporaryPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/**
 * Writes `data` to `path` atomically: to a temporary file beside it, then a rename, so a reader never sees a
 * half-written file and an earlier version survives a failed write.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await makeDirs(dirname(path));
  const tmp = temporaryPathFor(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Writes `value` as pretty JSON (2 spaces, trailing newline) atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** SHA-256 of a file's bytes, hex. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** SHA-256 of a string or bytes, hex. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** JSON with object keys sorted at every depth: a stable text for hashing configurations. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/**
 * Makes sure `dir` is a folder this process can write to, creating it (and its parents) if needed, before a command
 * spends any time: a probe file is written and removed. What it created is removed again when the folder cannot be
 * written. Throws the operating system's error (EACCES, ENOTDIR, EROFS, ENOSPC, ...). Returns the first folder it
 * created (undefined when `dir` existed), for the caller to remove if the command fails before writing.
 */
export async function ensureWritableDir(dir: string): Promise<string | undefined> {
  const created = await makeDirs(dir);
  const probe = join(dir, `.neuronscope-write-check-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(probe, '');
    await rm(probe, { force: true });
    return created;
  } catch (err) {
    if (created) await rm(created, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}
