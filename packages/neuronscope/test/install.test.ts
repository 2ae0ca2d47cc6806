/**
 * The published package, installed as a user would: `npm pack` the built package, `npm install` the tarball into an
 * empty project (dependencies from the registry, or npm's cache), then run the installed CLI from another folder
 * with relative paths, and import the API from plain Node and from TypeScript against the bundled types.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModel, requires } from '../../../test/support/env.js';

const PACKAGE_DIR = fileURLToPath(new URL('../', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const manifest = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')) as { version: string };

/** Runs a command; throws with its output when it fails, so that a failed step names itself. */
function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const r = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 600_000,
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function ok(result: ReturnType<typeof run>, what: string) {
  if (result.status !== 0) throw new Error(`${what} failed (${result.status}): ${result.stderr || result.stdout}`);
  return result;
}

describe('npm install neuronscope (the packed tarball)', requires('npm-registry'), () => {
  let tmp: string;
  let project: string;
  let elsewhere: string;

  beforeAll(() => {
    if (!existsSync(join(PACKAGE_DIR, 'dist/.built'))) {
      throw new Error(`${PACKAGE_DIR}dist is missing: run 'npm run build' first (npm test does)`);
    }
    tmp = mkdtempSync(join(tmpdir(), 'ns-install-'));
    const packed = ok(run('npm', ['pack', '--json', '--pack-destination', tmp], PACKAGE_DIR), 'npm pack');
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    const tarball = join(tmp, info!.filename);
    project = join(tmp, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), '{ "name": "user-project", "private": true, "type": "module" }\n');
    // The one setting a user needs: onnxruntime-node's install script would fetch optional GPU binaries.
    ok(
      run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], project, {
        ONNXRUNTIME_NODE_INSTALL: 'skip',
      }),
      'npm install',
    );
    elsewhere = join(tmp, 'elsewhere');
    mkdirSync(elsewhere);
  }, 900_000);

  /** `neuronscope` by name, as after `npm install -g`: the project's bin folder first on the PATH, run from elsewhere. */
  const neuronscope = (args: string[], env: Record<string, string> = {}) =>
    run('neuronscope', args, elsewhere, { PATH: `${join(project, 'node_modules/.bin')}:${process.env.PATH}`, ...env });

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('ships only its bundle, types, default model and README', () => {
    const files = run('npm', ['pack', '--dry-run', '--json'], PACKAGE_DIR);
    const [info] = JSON.parse(files.stdout) as { files: { path: string }[] }[];
    const paths = info!.files.map((f) => f.path).sort();
    expect(paths).toContain('dist/cli.js');
    expect(paths).toContain('dist/index.js');
    expect(paths).toContain('dist/index.d.ts');
    expect(paths).toContain('dist/worker.js');
    expect(paths).toContain('default-model/fashion-vgg.onnx');
    expect(paths).toContain('README.md');
    expect(paths.filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts'))).toEqual([]);
    expect(paths.filter((p) => p.startsWith('default-model/images/'))).toHaveLength(defaultModel.images.length);
  });

  it('puts a working `neuronscope` on the PATH of the project', () => {
    const version = ok(run('npx', ['--no-install', 'neuronscope', '--version'], project), 'npx neuronscope --version');
    expect(version.stdout.trim()).toMatch(
      new RegExp(`^neuronscope ${manifest.version.replaceAll('.', '\\.')} \\(onnxruntime-node \\d`),
    );
    const layers = ok(neuronscope(['layers']), 'neuronscope layers');
    expect(layers.stdout).toMatch(/conv/i);
    const doctor = ok(neuronscope(['doctor', '--json', '--cache-dir', 'cache']), 'neuronscope doctor');
    const report = JSON.parse(doctor.stdout) as {
      neuronscope: string;
      defaultModel: { path: string; present: boolean };
    };
    expect(report.neuronscope).toBe(manifest.version);
    expect(report.defaultModel).toEqual({
      path: join(project, 'node_modules/neuronscope/default-model/fashion-vgg.onnx'),
      present: true,
    });
  });

  it('explains an image given by a relative path, from another folder, into a relative --out', () => {
    const images = join(elsewhere, 'images');
    mkdirSync(images);
    writeFileSync(join(images, 'bag.png'), readFileSync(defaultModel.image('8-bag.png')));
    const result = neuronscope(['explain', '--image', 'images/bag.png', '--samples', '12', '--out', 'runs/bag'], {
      NEURONSCOPE_CACHE_DIR: join(tmp, 'cache'),
    });
    ok(result, 'neuronscope explain');
    const out = join(elsewhere, 'runs/bag');
    expect(readdirSync(out)).toEqual(expect.arrayContaining(['summary.json', 'neurons.parquet', 'report.html']));
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { target: { label: string } };
    expect(summary.target.label).toBe('Bag');
  });

  it('gives the API to plain Node (ESM) and its types to TypeScript', () => {
    const script = join(project, 'use.mjs');
    writeFileSync(
      script,
      [
        "import { createExplainer, VERSION } from 'neuronscope';",
        'const explainer = await createExplainer({ workers: 1, cache: false });',
        'try {',
        `  const result = await explainer.explain(${JSON.stringify(defaultModel.image('1-trouser.png'))}, { samples: 8 });`,
        '  console.log(JSON.stringify({ version: VERSION, label: result.summary.target.label }));',
        '} finally {',
        '  await explainer.close();',
        '}',
      ].join('\n'),
    );
    const used = ok(run(process.execPath, [script], elsewhere), 'node use.mjs');
    expect(JSON.parse(used.stdout.trim().split('\n').pop()!)).toEqual({ version: manifest.version, label: 'Trouser' });

    const typed = join(project, 'use.ts');
    writeFileSync(
      typed,
      [
        "import { createExplainer, type Summary } from 'neuronscope';",
        'const explainer = await createExplainer({ workers: 1 });',
        "const summary: Summary = (await explainer.explain('x.png', { samples: 8 })).summary;",
        'const label: string | null = summary.target.label;',
        '// @ts-expect-error: samples is a number',
        "await explainer.explain('x.png', { samples: 'many' });",
        'export { label };',
      ].join('\n'),
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          typeRoots: [join(ROOT, 'node_modules/@types')],
          types: ['node'],
        },
        files: ['use.ts'],
      }),
    );
    ok(run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], project), 'tsc');
  });
});
