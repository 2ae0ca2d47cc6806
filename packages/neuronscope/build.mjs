#!/usr/bin/env node
/**
 * Builds the publishable package `neuronscope` from the workspace: the workspace packages are bundled (esbuild) into
 * three files, the CLI (`dist/cli.js`), the API (`dist/index.js`, with its types bundled into `dist/index.d.ts`) and
 * the extraction pool's worker (`dist/worker.js`, which the pool finds beside the file that loads it); every npm
 * dependency stays external, with the version ranges of package.json. The embedded default model and the README are
 * copied in. Nothing here runs at install time: the package has no install script.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const manifest = JSON.parse(await readFile(here('./package.json'), 'utf8'));

await rm(here('./dist'), { recursive: true, force: true });
await rm(here('./default-model'), { recursive: true, force: true });
await build({
  entryPoints: {
    cli: here('../cli/src/main.ts'),
    index: here('../engine/src/index.ts'),
    worker: here('../activations/src/worker.ts'),
  },
  outdir: here('./dist'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Every dependency of the package stays an import: installed from the registry with its own version.
  external: [...Object.keys(manifest.dependencies), 'node:*'],
  logLevel: 'warning',
  legalComments: 'none',
});
// The shebang is the CLI entry's own first line; esbuild keeps it.
await mkdir(here('./default-model'), { recursive: true });
await cp(here('../engine/default-model'), here('./default-model'), { recursive: true });
await cp(here('../../README.md'), here('./README.md'));
execFileSync(
  process.execPath,
  [
    here('../../node_modules/dts-bundle-generator/dist/bin/dts-bundle-generator.js'),
    '--project',
    here('./tsconfig.types.json'),
    '--out-file',
    here('./dist/index.d.ts'),
    '--no-banner',
    '--no-check',
    '--external-imports',
    ...Object.keys(manifest.dependencies),
    '--',
    here('../engine/src/index.ts'),
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
await writeFile(here('./dist/.built'), `${manifest.version}\n`);
