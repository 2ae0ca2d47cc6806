/**
 * Replays the hostile cases against the built CLI in a temporary workspace and says how many were handled:
 * `npm run hostile` prints the table and the line the README quotes ("N hostile cases, N handled").
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type HostileCase, hostileCases, type Outcome, type Run } from './cases.js';
import { writeWorkspace } from './fixtures.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The built CLI. */
export const CLI = join(ROOT, 'packages/cli/dist/main.js');
/** The embedded default model's sample images. */
export const SAMPLES = join(ROOT, 'packages/engine/default-model/images');

/** One replayed case. */
export interface Replayed {
  readonly group: HostileCase['group'];
  readonly what: string;
  /** Null when handled; otherwise what went wrong. */
  readonly problem: string | null;
}

/** Runs every case (those whose `what` matches `only`, when given); the workspace is removed afterwards. */
export async function replay(only?: RegExp): Promise<Replayed[]> {
  const dir = await mkdtemp(join(tmpdir(), 'ns-hostile-'));
  try {
    const ws = await writeWorkspace(dir);
    const run: Run = (args, env = {}): Outcome => {
      const started = performance.now();
      const r = spawnSync(process.execPath, [CLI, ...args], {
        encoding: 'utf8',
        cwd: dir,
        env: { ...process.env, NEURONSCOPE_CACHE_DIR: join(dir, 'cache'), NEURONSCOPE_DEBUG: '', ...env },
        timeout: 120_000,
      });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr, seconds: (performance.now() - started) / 1000 };
    };
    const results: Replayed[] = [];
    for (const c of hostileCases(SAMPLES)) {
      if (only && !only.test(c.what)) continue;
      const problem = await c.check(ws, run).catch((err: Error) => `the check failed: ${err.message}`);
      results.push({ group: c.group, what: c.what, problem });
    }
    return results;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The closing line: "N hostile cases, M handled". */
export function tally(results: readonly Replayed[]): string {
  return `${results.length} hostile cases, ${results.filter((r) => r.problem === null).length} handled`;
}
