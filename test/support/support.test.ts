/**
 * The skip mechanism: requires() and the closing line, end to end in a child vitest run over the fixture files (with
 * the resources pointed at nothing), and optionsFor() directly.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MissingResourceError, optionsFor } from './env.js';

const VITEST = fileURLToPath(new URL('../../node_modules/vitest/vitest.mjs', import.meta.url));
const CONFIG = fileURLToPath(new URL('fixtures/vitest.config.ts', import.meta.url));
const EMPTY = mkdtempSync(join(tmpdir(), 'ns-no-shared-'));

/** Runs the fixture `file` in a child vitest; our own NEURONSCOPE_ and VITEST variables are not passed on. */
function runFixture(file: string, env: Record<string, string>) {
  const inherited = Object.entries(process.env).filter(([k]) => !/^(NEURONSCOPE_|VITEST)/.test(k));
  const r = spawnSync(process.execPath, [VITEST, 'run', '--config', CONFIG, file], {
    encoding: 'utf8',
    env: {
      ...Object.fromEntries(inherited),
      NEURONSCOPE_SHARED_DIR: EMPTY,
      NEURONSCOPE_CHROMIUM: join(EMPTY, 'chromium'),
      NO_COLOR: '1',
      ...env,
    },
    timeout: 120_000,
  });
  const lines = r.stdout.trimEnd().split('\n');
  return { status: r.status, output: r.stdout + r.stderr, last: lines.at(-1) };
}

describe('requires() and the closing line, in a child vitest run', () => {
  it('skips what needs a missing resource, says why once per resource, and counts what ran and skipped', () => {
    const r = runFixture('resources.fixture.ts', {});
    expect(r.status).toBe(0);
    expect(r.last).toBe('1 test ran, 3 skipped (shared: 2, chromium: 1)');
    expect(r.output).toContain(`skipped 2 tests (shared): ${EMPTY}/models/squeezenet1_1.onnx not found`);
    expect(r.output).toContain(`skipped 1 test (chromium): ${EMPTY}/chromium not found (apt-get install chromium`);
  });

  it('fails the test file with the reason under NEURONSCOPE_REQUIRE_ALL=1', () => {
    const r = runFixture('resources.fixture.ts', { NEURONSCOPE_REQUIRE_ALL: '1' });
    expect(r.status).toBe(1);
    expect(r.output).toContain('MissingResourceError: NEURONSCOPE_REQUIRE_ALL=1 but shared is missing');
    expect(r.last).toBe('0 tests ran, 0 skipped; 1 test file failed to load');
  });

  it('counts a skip in the code, and fails the run for it under NEURONSCOPE_REQUIRE_ALL=1', () => {
    const plain = runFixture('plain-skip.fixture.ts', {});
    expect(plain.status).toBe(0);
    expect(plain.last).toBe('1 test ran, 1 skipped (skipped in the code or filtered out: 1)');
    const required = runFixture('plain-skip.fixture.ts', { NEURONSCOPE_REQUIRE_ALL: '1' });
    expect(required.status).toBe(1);
    expect(required.output).toContain('NEURONSCOPE_REQUIRE_ALL=1: no test may skip; failing the run');
  });
});

describe('optionsFor', () => {
  it('runs when nothing is missing, skips with the reason in the meta, or throws when all are required', () => {
    expect(optionsFor(null, false)).toEqual({});
    expect(optionsFor(null, true)).toEqual({});
    const lacking = { resource: 'redis-server' as const, reason: 'redis-server not on PATH' };
    expect(optionsFor(lacking, false)).toEqual({
      skip: true,
      meta: { missing: 'redis-server', missingReason: 'redis-server not on PATH' },
    });
    expect(() => optionsFor(lacking, true)).toThrow(MissingResourceError);
    expect(() => optionsFor(lacking, true)).toThrow(
      'NEURONSCOPE_REQUIRE_ALL=1 but redis-server is missing: redis-server not on PATH',
    );
  });
});
