import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));
const ENGINE = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/** The README's API example, with its import pointed at the built engine (what the package `neuronscope` exports). */
function readmeExample(): string {
  const text = readFileSync(README, 'utf8');
  const block = /<!-- api-example -->\s*```js\n([\s\S]*?)```\s*<!-- \/api-example -->/.exec(text);
  if (!block) throw new Error('README.md has no <!-- api-example --> block');
  return block[1]!.replace("from 'neuronscope'", `from ${JSON.stringify(ENGINE)}`);
}

describe("the README's API example", () => {
  it('runs as written and writes a run folder', async () => {
    expect(existsSync(ENGINE), 'run npm run build first').toBe(true);
    const dir = await mkdtemp(join(tmpdir(), 'ns-readme-'));
    await writeFile(join(dir, 'example.mjs'), readmeExample());
    const run = spawnSync(process.execPath, ['example.mjs'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, NEURONSCOPE_CACHE_DIR: join(dir, 'cache') },
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toBe('target: Ankle boot');
    expect(lines).toHaveLength(6);
    for (const line of lines.slice(1))
      expect(line).toMatch(/^\/relu\d_\d\/Relu_output_0: correlation [\d,]+ \| precision [\d,]* \| overlap [\d.]+$/);
    const summary = JSON.parse(await readFile(join(dir, 'out/api-example/summary.json'), 'utf8'));
    expect(summary.target.label).toBe('Ankle boot');
    expect(summary.samplesUsed).toBe(50);
  });
});
