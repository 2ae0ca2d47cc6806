/**
 * The content-addressed cache of extractions and heat maps. An entry is a folder of files plus `manifest.json`
 * (each file's size and SHA-256); it is written whole into a temporary folder from the run's own tables, then
 * renamed into place, so it appears complete or not at all. Every hit checks every file against the manifest: a
 * truncated, tampered or unreadable entry is reported, removed and recomputed, never used. A cache that cannot be
 * written (read-only, a file in the way, a full disk) costs a warning, never a result. Entries are pruned least
 * recently used first (a hit touches its manifest).
 */
import { readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { makeDirs, sha256, temporaryPathFor } from '@neuronscope/core';
import { z } from 'zod';

/** Bump when the layout of entries changes: older entries are then not found (and `prune` removes them). */
const CACHE_LAYOUT = 'v2';

/** `$NEURONSCOPE_CACHE_DIR`, else `$XDG_CACHE_HOME/neuronscope`, else `~/.cache/neuronscope`. */
export function defaultCacheDir(): string {
  if (process.env.NEURONSCOPE_CACHE_DIR) return process.env.NEURONSCOPE_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'neuronscope');
}

const ManifestSchema = z.object({
  layout: z.literal(CACHE_LAYOUT),
  key: z.string(),
  created: z.string(),
  files: z.record(z.string(), z.object({ bytes: z.number().int().min(0), sha256: z.string() })),
});
type Manifest = z.infer<typeof ManifestSchema>;

/** One entry, as `neuronscope cache` lists it. */
export interface CacheEntryInfo {
  readonly namespace: string;
  readonly key: string;
  readonly files: readonly string[];
  readonly bytes: number;
  readonly lastUsed: Date;
}

const KEY = /^[0-9a-f]{64}$/;
const errorText = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message ?? String(err);

/** The cache in one folder; `warn` hears about entries that were bad and writes that failed. */
export class ContentCache {
  constructor(
    readonly dir: string,
    private readonly warn: (message: string) => void = () => undefined,
  ) {}

  private entry(namespace: string, key: string): string {
    if (!KEY.test(key) || !/^[a-z-]+$/.test(namespace)) throw new Error(`cache: bad entry ${namespace}/${key}`);
    return join(this.dir, CACHE_LAYOUT, namespace, key);
  }

  /**
   * The entry's `required` files, and those of `optional` it has, each checked; null when the entry is missing or
   * lacks one of `required` (a miss). A bad entry is removed and reported, and is a miss.
   */
  async get(
    namespace: string,
    key: string,
    required: readonly string[],
    optional: readonly string[] = [],
  ): Promise<Map<string, Uint8Array> | null> {
    const dir = this.entry(namespace, key);
    let manifest: Manifest;
    try {
      manifest = ManifestSchema.parse(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      return this.discard(dir, `its manifest is unreadable (${errorText(err)})`);
    }
    if (manifest.key !== key) return this.discard(dir, `its manifest names another key`);
    if (required.some((name) => !(name in manifest.files))) return null;
    const files = new Map<string, Uint8Array>();
    for (const name of [...required, ...optional.filter((n) => n in manifest.files)]) {
      const expected = manifest.files[name]!;
      let bytes: Uint8Array;
      try {
        bytes = await readFile(join(dir, name));
      } catch (err) {
        return this.discard(dir, `${name} is unreadable (${errorText(err)})`);
      }
      if (bytes.length !== expected.bytes)
        return this.discard(dir, `${name} has ${bytes.length} bytes, not ${expected.bytes}`);
      if (sha256(bytes) !== expected.sha256) return this.discard(dir, `${name} does not match its checksum`);
      files.set(name, bytes);
    }
    const now = new Date();
    await utimes(join(dir, 'manifest.json'), now, now).catch(() => undefined);
    return files;
  }

  private async discard(dir: string, why: string): Promise<null> {
    this.warn(`cache: entry ${dir} is damaged (${why}): removed, computing it again`);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    return null;
  }

  /** Stores `files` as the entry `key` (replacing any); false, with a warning, when the cache cannot be written. */
  async put(namespace: string, key: string, files: ReadonlyMap<string, Uint8Array>): Promise<boolean> {
    const dir = this.entry(namespace, key);
    const tmp = temporaryPathFor(dir);
    try {
      await makeDirs(tmp);
      const manifest: Manifest = { layout: CACHE_LAYOUT, key, created: new Date().toISOString(), files: {} };
      for (const [name, bytes] of files) {
        if (!/^[\w.-]+$/.test(name) || name === 'manifest.json') throw new Error(`cache: bad file name ${name}`);
        await writeFile(join(tmp, name), bytes);
        manifest.files[name] = { bytes: bytes.length, sha256: sha256(bytes) };
      }
      await writeFile(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
      return true;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      this.warn(`cache: cannot store an entry in ${this.dir} (${errorText(err)}); the result is not cached`);
      return false;
    }
  }

  /** Every entry, most recently used first. */
  async list(): Promise<CacheEntryInfo[]> {
    const root = join(this.dir, CACHE_LAYOUT);
    const entries: CacheEntryInfo[] = [];
    for (const namespace of await readdir(root).catch(() => [] as string[])) {
      for (const key of await readdir(join(root, namespace)).catch(() => [] as string[])) {
        if (!KEY.test(key)) continue;
        const dir = join(root, namespace, key);
        const manifest = await readFile(join(dir, 'manifest.json'), 'utf8')
          .then((t) => ManifestSchema.parse(JSON.parse(t)))
          .catch(() => null);
        const used = await stat(join(dir, 'manifest.json')).catch(() => null);
        const files = manifest ? Object.keys(manifest.files) : [];
        const bytes = manifest ? Object.values(manifest.files).reduce((s, f) => s + f.bytes, 0) : 0;
        entries.push({ namespace, key, files, bytes, lastUsed: used?.mtime ?? new Date(0) });
      }
    }
    return entries.sort((a, b) => b.lastUsed.getTime() - a.lastUsed.getTime());
  }

  /**
   * Removes the least recently used entries until the cache holds at most `maxBytes`, and anything that is not a
   * valid entry of this layout (older layouts, leftovers of interrupted writes). Returns what was removed.
   */
  async prune(maxBytes: number): Promise<{ removed: number; freed: number; kept: number; bytes: number }> {
    let removed = 0;
    let freed = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (name === CACHE_LAYOUT) continue;
      freed += await folderBytes(join(this.dir, name));
      await rm(join(this.dir, name), { recursive: true, force: true });
      removed++;
    }
    const entries = await this.list();
    let total = entries.reduce((s, e) => s + e.bytes, 0);
    for (const e of [...entries].reverse()) {
      if (total <= maxBytes && e.files.length > 0) continue;
      await rm(this.entry(e.namespace, e.key), { recursive: true, force: true });
      total -= e.bytes;
      freed += e.bytes;
      removed++;
    }
    const kept = (await this.list()).length;
    return { removed, freed, kept, bytes: total };
  }
}

/** Bytes of the files under a folder (or of a file). */
async function folderBytes(path: string): Promise<number> {
  const s = await stat(path).catch(() => null);
  if (!s) return 0;
  if (!s.isDirectory()) return s.size;
  let total = 0;
  for (const name of await readdir(path)) total += await folderBytes(join(path, name));
  return total;
}
