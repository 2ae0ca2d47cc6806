/**
 * A vitest reporter that closes the run with what ran and what was skipped, and why:
 *
 *     skipped 26 tests (shared): /x/shared/models/squeezenet1_1.onnx not found (...)
 *     280 tests ran, 26 skipped (shared: 26)
 *
 * A test skipped through `requires()` (test/support/env.ts) carries its resource and reason in its task meta; any
 * other skip (`it.skip`, `ctx.skip()`, `todo`, a `-t` filter) is counted under its note or its mode. Under
 * `NEURONSCOPE_REQUIRE_ALL=1` (meant for whole runs, as in CI) any skip at all fails the run.
 */
import type { Reporter, TestCase, TestModule, Vitest } from 'vitest/node';
import { REQUIRE_ALL } from './env.js';

/** Why a skipped test was skipped: a key for the count and a one-line reason. */
export function skipReason(test: Pick<TestCase, 'meta' | 'result' | 'options'>): { key: string; reason: string } {
  const meta = test.meta();
  if (meta.missing) return { key: meta.missing, reason: meta.missingReason ?? 'missing' };
  const result = test.result();
  const note = result.state === 'skipped' ? result.note : undefined;
  if (note) return { key: note, reason: note };
  // `it.skip`, `skipIf` and a test left out by a name filter (`-t`) look the same to a reporter.
  const mode = test.options.mode === 'todo' ? 'todo' : 'skipped in the code or filtered out';
  return { key: mode, reason: mode };
}

/** Counts of a finished run: tests that ran, and skipped tests by reason. */
export function tally(modules: ReadonlyArray<TestModule>) {
  let ran = 0;
  let unloaded = 0;
  const skipped = new Map<string, { reason: string; count: number }>();
  for (const module of modules) {
    if (module.errors().length > 0 && module.children.size === 0) unloaded++;
    for (const test of module.children.allTests()) {
      const state = test.result().state;
      if (state === 'passed' || state === 'failed') ran++;
      if (state !== 'skipped') continue;
      const { key, reason } = skipReason(test);
      const entry = skipped.get(key) ?? { reason, count: 0 };
      entry.count++;
      skipped.set(key, entry);
    }
  }
  return { ran, skipped, unloaded };
}

/** The closing line: `N tests ran, M skipped (reason: count, ...)`. */
export function closingLine({ ran, skipped, unloaded }: ReturnType<typeof tally>): string {
  const total = [...skipped.values()].reduce((s, e) => s + e.count, 0);
  const reasons = [...skipped].map(([key, e]) => `${key}: ${e.count}`).join(', ');
  const files = unloaded ? `; ${unloaded} test file${unloaded > 1 ? 's' : ''} failed to load` : '';
  return `${ran} test${ran === 1 ? '' : 's'} ran, ${total} skipped${total ? ` (${reasons})` : ''}${files}`;
}

export default class SkipReporter implements Reporter {
  private vitest: Vitest | undefined;

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const counts = tally(modules);
    const log = (line: string) => (this.vitest ? this.vitest.logger.log(line) : console.log(line));
    for (const [key, e] of counts.skipped) {
      log(`skipped ${e.count} test${e.count > 1 ? 's' : ''} (${key}): ${e.reason}`);
    }
    if (REQUIRE_ALL && counts.skipped.size > 0) {
      log('NEURONSCOPE_REQUIRE_ALL=1: no test may skip; failing the run');
      process.exitCode = 1;
    }
    log(closingLine(counts));
  }
}
