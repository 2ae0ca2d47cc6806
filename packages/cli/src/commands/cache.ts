import { ContentCache, defaultCacheDir } from '@neuronscope/engine';
import { type Command, InvalidArgumentError } from 'commander';
import { absolute, guarded } from '../options.js';
import { textTable } from '../print.js';

/** `1.5GB`, `200M`, `1e9`: a size in bytes (K, M, G, T are powers of 1024; a trailing B is optional). */
export function byteSize(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(value);
  if (!m) throw new InvalidArgumentError('a size such as 500M, 2G or 1e9.');
  const power = ' kmgt'.indexOf(m[2]!.toLowerCase() || ' ');
  return Math.round(Number(m[1]) * 1024 ** power);
}

/** `12.3 MB`. */
export function sizeText(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** `neuronscope cache`. */
export function register(program: Command): void {
  program
    .command('cache')
    .description('show the cache of extractions and heat maps (size, entries), or prune it least recently used first')
    .option('--cache-dir <dir>', 'the cache (default: $NEURONSCOPE_CACHE_DIR or ~/.cache/neuronscope)')
    .option('--list', 'list every entry, most recently used first')
    .option('--max-size <size>', 'remove the least recently used entries until the cache holds at most this', byteSize)
    .option('--clear', 'remove every entry')
    .option('--json', 'print JSON')
    .action(
      guarded(async (o) => {
        const cache = new ContentCache(absolute(o.cacheDir) ?? defaultCacheDir());
        const pruned =
          o.clear || o.maxSize !== undefined ? await cache.prune(o.clear ? 0 : (o.maxSize as number)) : null;
        const entries = await cache.list();
        const bytes = entries.reduce((s, e) => s + e.bytes, 0);
        if (o.json) {
          process.stdout.write(
            `${JSON.stringify({ dir: cache.dir, entries: entries.length, bytes, pruned, list: o.list ? entries : undefined }, null, 2)}\n`,
          );
          return;
        }
        const lines = [`cache ${cache.dir}: ${entries.length} entries, ${sizeText(bytes)}`];
        if (pruned) lines.push(`pruned ${pruned.removed} entries, ${sizeText(pruned.freed)} freed`);
        if (o.list && entries.length) {
          lines.push(
            textTable(
              ['kind', 'key', 'size', 'last used', 'files'],
              entries.map((e) => [
                e.namespace,
                e.key.slice(0, 12),
                sizeText(e.bytes),
                e.lastUsed.toISOString(),
                e.files.join(','),
              ]),
            ),
          );
        }
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );
}
