/** What a bug report needs to know about this installation: `neuronscope --version` and `neuronscope doctor`. */
import { createRequire } from 'node:module';
import { arch, availableParallelism, cpus, freemem, platform, release, totalmem } from 'node:os';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { ContentCache, defaultCacheDir } from './cache.js';
import { defaultModel } from './default-model.js';

/**
 * The version of neuronscope: its package.json, one folder up from this file (the engine's in a clone, the
 * `neuronscope` package's once bundled).
 */
export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** The onnxruntime-node version in use. */
export const ONNXRUNTIME_VERSION: string = ort.env.versions.node ?? ort.env.versions.common ?? 'unknown';

/** `neuronscope 0.1.0 (onnxruntime-node 1.30.0, Node v20.20.2)`. */
export function versionLine(): string {
  return `neuronscope ${VERSION} (onnxruntime-node ${ONNXRUNTIME_VERSION}, Node ${process.version})`;
}

/** Everything `neuronscope doctor` reports. */
export interface Environment {
  neuronscope: string;
  node: string;
  platform: string;
  cpu: { model: string; cores: number };
  memory: { totalGiB: number; freeGiB: number };
  onnxruntime: { version: string; backends: { name: string; bundled: boolean }[] };
  sharp: Record<string, string | undefined>;
  cache: { dir: string; entries: number; bytes: number };
  defaultModel: { path: string; present: boolean };
}

/** Reads the environment (the cache's size included: it lists the cache). */
export async function environment(cacheDir = defaultCacheDir()): Promise<Environment> {
  const entries = await new ContentCache(cacheDir).list();
  const model = await defaultModel().catch(() => null);
  const backends = (
    ort as unknown as { listSupportedBackends?: () => { name: string; bundled: boolean }[] }
  ).listSupportedBackends?.() ?? [{ name: 'cpu', bundled: true }];
  const gib = (bytes: number) => Math.round((bytes / 1024 ** 3) * 10) / 10;
  return {
    neuronscope: VERSION,
    node: process.version,
    platform: `${platform()} ${release()} ${arch()}`,
    cpu: { model: cpus()[0]?.model ?? 'unknown', cores: availableParallelism() },
    memory: { totalGiB: gib(totalmem()), freeGiB: gib(freemem()) },
    onnxruntime: { version: ONNXRUNTIME_VERSION, backends },
    sharp: { ...sharp.versions },
    cache: { dir: cacheDir, entries: entries.length, bytes: entries.reduce((s, e) => s + e.bytes, 0) },
    defaultModel: { path: model?.model ?? '(not found)', present: model !== null },
  };
}
