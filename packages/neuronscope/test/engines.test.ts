/**
 * Node versions told truthfully: the `engines` of the published package, of the workspace and of every package in
 * its installed production dependency tree admit the Node versions the README names; and the README names them.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const published = readJson(join(ROOT, 'packages/neuronscope/package.json'));

/** The Node versions the README promises: the floor of `engines` and the current LTS lines. */
const SUPPORTED = ['20.19.0', '22.12.0', '24.0.0'];

/** Every installed package of the published package's production tree (npm's own view of it). */
function productionTree(): { name: string; version: string; node?: string }[] {
  const folders = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable', '--workspace', 'neuronscope'], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
    .trim()
    .split('\n');
  return folders.map((folder) => {
    const manifest = readJson(join(folder, 'package.json'));
    return { name: manifest.name, version: manifest.version, node: manifest.engines?.node };
  });
}

describe('Node versions', () => {
  it('engines agree: the published package, the workspace and the README', () => {
    expect(published.engines.node).toBe('>=20.19');
    expect(readJson(join(ROOT, 'package.json')).engines.node).toBe(published.engines.node);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('Node.js 20.19 or newer');
    expect(readme).toContain('`engines` says `>=20.19`');
    for (const version of SUPPORTED) expect(semver.satisfies(version, published.engines.node)).toBe(true);
  });

  it('the Node running the tests is one the package admits (CI runs on it)', () => {
    expect(semver.satisfies(process.versions.node, published.engines.node)).toBe(true);
  });

  it('every production dependency admits every supported Node version', () => {
    const tree = productionTree();
    expect(tree.map((p) => p.name)).toEqual(expect.arrayContaining(['onnxruntime-node', 'sharp', 'vega-lite']));
    const refusals = tree.flatMap(({ name, version, node }) =>
      node === undefined
        ? []
        : SUPPORTED.filter((v) => !semver.satisfies(v, node)).map(
            (v) => `${name}@${version} (node ${node}) refuses ${v}`,
          ),
    );
    expect(refusals).toEqual([]);
  });
});
