/**
 * The hostile-input and fault cases, replayed against the built CLI: what a careless user or an attacker would try,
 * each with what handling it well means. Most run on the embedded default model or the tiny models of fixtures.ts;
 * the queue cases are in packages/sweep/test/queue.test.ts (they need a Redis) and are counted there.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Workspace } from './fixtures.js';

/** What a run of the CLI gave. */
export interface Outcome {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

/** Runs the CLI (with the workspace's own cache unless `env` says otherwise). */
export type Run = (args: string[], env?: Record<string, string>) => Outcome;

/** One case: how to provoke it and how to tell that it was handled (null) or not (why). */
export interface HostileCase {
  readonly group: 'cache and run folders' | 'models, labels, images' | 'options and resources' | 'output';
  readonly what: string;
  readonly check: (ws: Workspace, run: Run) => Promise<string | null>;
}

/** The error line of a refused run: one line, the expected text, the expected code, and no stack. */
function refused(o: Outcome, pattern: RegExp, code = 2): string | null {
  const lines = o.stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('neuronscope: warning:'));
  if (o.status !== code) return `exit ${o.status}, expected ${code}: ${o.stderr.trim().slice(0, 200)}`;
  if (lines.length !== 1) return `${lines.length} lines of stderr, expected one`;
  if (!pattern.test(lines[0]!)) return `unexpected message: ${lines[0]}`;
  return null;
}

/** `refused`, and the output folder was not created. */
function refusedClean(o: Outcome, pattern: RegExp, out: string, code = 2): string | null {
  return refused(o, pattern, code) ?? (existsSync(out) ? `${out} was written` : null);
}

const summaryOf = async (dir: string) => JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'));

let counter = 0;
/** A fresh output folder of the workspace. */
const outIn = (ws: Workspace) => ws.path(`out-${++counter}`);

/** Small runs: few copies, no heat maps. */
const FAST = ['-n', '8', '--masks', '0', '--top-k', '2', '-q'];
const tiny = (ws: Workspace, model = 'good.onnx') => [
  '--model',
  ws.path(model),
  '--preprocess',
  'none',
  '--grayscale',
  '--size',
  '8',
];

const models: HostileCase[] = [
  {
    group: 'models, labels, images',
    what: 'a model with one output class (y would be constant)',
    check: async (ws, run) => {
      const out = outIn(ws);
      return refusedClean(
        run(['explain', ...tiny(ws, 'one-class.onnx'), '--image', ws.path('photo.png'), ...FAST, '--out', out]),
        /1 output class.*--output logit/,
        out,
      );
    },
  },
  {
    group: 'models, labels, images',
    what: 'a model whose output is a 4-D map (not class scores)',
    check: async (ws, run) => {
      const out = outIn(ws);
      return refusedClean(
        run(['explain', ...tiny(ws, 'map-output.onnx'), '--image', ws.path('photo.png'), ...FAST, '--out', out]),
        /needs class scores \[N, classes\]/,
        out,
      );
    },
  },
  {
    group: 'models, labels, images',
    what: 'a model with an int64 output',
    check: async (ws, run) => {
      const out = outIn(ws);
      return refusedClean(
        run(['explain', ...tiny(ws, 'int-output.onnx'), '--image', ws.path('photo.png'), ...FAST, '--out', out]),
        /int64 .*needs float32 class scores/,
        out,
      );
    },
  },
  {
    group: 'models, labels, images',
    what: 'a model whose output is NaN',
    check: async (ws, run) => {
      const out = outIn(ws);
      return refusedClean(
        run(['explain', ...tiny(ws, 'nan-output.onnx'), '--image', ws.path('photo.png'), ...FAST, '--out', out]),
        /output on the clean image is not finite/,
        out,
      );
    },
  },
  {
    group: 'models, labels, images',
    what: 'a model with a fixed batch of 2',
    check: async (ws, run) => {
      const out = outIn(ws);
      return refusedClean(
        run(['explain', ...tiny(ws, 'fixed-batch-2.onnx'), '--image', ws.path('photo.png'), ...FAST, '--out', out]),
        /fixed batch of 2; neuronscope needs a batch of 1 or a dynamic batch/,
        out,
      );
    },
  },
  {
    group: 'models, labels, images',
    what: 'a file that is not an ONNX model',
    check: async (ws, run) => {
      const out = outIn(ws);
      return refusedClean(
        run(['explain', ...tiny(ws, 'not-onnx.onnx'), '--image', ws.path('photo.png'), ...FAST, '--out', out]),
        /is not a valid ONNX model/,
        out,
      );
    },
  },
  {
    group: 'models, labels, images',
    what: 'a missing model',
    check: async (ws, run) => {
      const out = outIn(ws);
      return refusedClean(
        run(['explain', '--model', ws.path('nope.onnx'), ...FAST, '--out', out]),
        /model file not found/,
        out,
      );
    },
  },
  {
    group: 'models, labels, images',
    what: 'a labels file with fewer lines than the model has outputs',
    check: async (ws, run) => {
      const out = outIn(ws);
      return refusedClean(
        run([
          'explain',
          ...tiny(ws),
          '--labels',
          ws.path('labels-5.txt'),
          '--image',
          ws.path('photo.png'),
          ...FAST,
          '--out',
          out,
        ]),
        /has 5 lines but model .* has 3 outputs/,
        out,
      );
    },
  },
  {
    group: 'models, labels, images',
    what: 'a UTF-16 labels file (with a byte-order mark)',
    check: async (ws, run) => {
      const out = outIn(ws);
      const o = run([
        'explain',
        ...tiny(ws),
        '--labels',
        ws.path('labels-utf16.txt'),
        '--image',
        ws.path('photo.png'),
        ...FAST,
        '--out',
        out,
      ]);
      if (o.status !== 0) return `exit ${o.status}: ${o.stderr.trim()}`;
      const s = await summaryOf(out);
      return s.predictions.some((p: { label: string }) => p.label === 'zéro') ? null : 'labels not decoded';
    },
  },
  {
    group: 'models, labels, images',
    what: 'an unknown --target label (with a suggestion)',
    check: async (ws, run) => {
      const out = outIn(ws);
      return refusedClean(
        run(['explain', '--target', 'ankle bot', ...FAST, '--out', out]),
        /unknown class 'ankle bot'.*did you mean 'ankle boot' \(9\)/,
        out,
      );
    },
  },
  {
    group: 'models, labels, images',
    what: 'a file that is not an image',
    check: async (ws, run) => {
      const out = outIn(ws);
      return refusedClean(
        run(['explain', '--image', ws.path('not-an-image.png'), ...FAST, '--out', out]),
        /is not an image/,
        out,
      );
    },
  },
  {
    group: 'models, labels, images',
    what: 'a truncated PNG',
    check: async (ws, run) => {
      const out = outIn(ws);
      return refusedClean(
        run(['explain', '--image', ws.path('truncated.png'), ...FAST, '--out', out]),
        /truncated or corrupt image/,
        out,
      );
    },
  },
  {
    group: 'models, labels, images',
    what: 'a 30000 x 30000 PNG (pixel bomb)',
    check: async (ws, run) => {
      const out = outIn(ws);
      return refusedClean(
        run(['explain', '--image', ws.path('bomb-30000x30000.png'), ...FAST, '--out', out]),
        /too large to decode: more than 100 megapixels/,
        out,
      );
    },
  },
  {
    group: 'models, labels, images',
    what: 'a 1 x 20000 PNG (crop computed, not the 256 x 5 120 000 resize)',
    check: async (ws, run) => {
      const out = outIn(ws);
      const model = ['--model', ws.path('good.onnx'), '--preprocess', 'imagenet', '--grayscale', '--size', '8'];
      const o = run([
        'explain',
        ...model,
        '--top-k',
        '2',
        '--image',
        ws.path('sliver-1x20000.png'),
        ...FAST,
        '--out',
        out,
      ]);
      if (o.status !== 0) return `exit ${o.status}: ${o.stderr.trim()}`;
      return o.seconds < 60 ? null : `took ${o.seconds.toFixed(0)} s`;
    },
  },
  {
    group: 'models, labels, images',
    what: 'a CMYK JPEG (converted as Pillow does)',
    check: async (ws, run) => {
      const out = outIn(ws);
      const model = ['--model', ws.path('rgb.onnx'), '--preprocess', 'none', '--size', '8', '--top-k', '2'];
      const o = run(['explain', ...model, '--image', ws.path('cmyk.jpg'), ...FAST, '--out', out]);
      return o.status === 0 ? null : `exit ${o.status}: ${o.stderr.trim()}`;
    },
  },
  {
    group: 'output',
    what: '<script> in labels and file names is escaped in the report',
    check: async (ws, run) => {
      const out = outIn(ws);
      const o = run([
        'explain',
        ...tiny(ws),
        '--labels',
        ws.path('labels-script.txt'),
        '--image',
        ws.path('<img onerror=x>.png'),
        '-n',
        '8',
        '--masks',
        '16',
        '--top-k',
        '2',
        '-q',
        '--out',
        out,
      ]);
      if (o.status !== 0) return `exit ${o.status}: ${o.stderr.trim()}`;
      const html = await readFile(join(out, 'report.html'), 'utf8');
      return /<script>alert|<img onerror/.test(html) ? 'unescaped text in report.html' : null;
    },
  },
];

const options: HostileCase[] = [
  ...(
    [
      ['--samples 1000000000', ['-n', '1000000000'], /--samples: must be at most 100000/],
      ['--workers 1000', ['--workers', '1000'], /--workers: must be at most/],
      ['--threads 1000', ['--threads', '1000'], /--threads: must be at most/],
      ['--sigma 1e308', ['--sigma', '1e308'], /sigma must be <= 100/],
      ['--masks 8 (below 16)', ['--masks', '8'], /--masks: must be 0 \(no heat maps\) or at least 16/],
      ['--batch-size 100000', ['--batch-size', '100000'], /--batch-size: must be at most 1024/],
      ['--top-k above the channels', ['--top-k', '99'], /--top-k 99 is larger than layer/],
      ['--samples 2', ['-n', '2'], /--samples/],
      ['an unknown option', ['--frobnicate'], /unknown option '--frobnicate'/],
      ['an unknown perturbation family', ['--perturb', 'wobble'], /unknown perturbation 'wobble'/],
    ] as const
  ).map(
    ([what, args, pattern]): HostileCase => ({
      group: 'options and resources',
      what,
      check: async (ws, run) => {
        const out = outIn(ws);
        const o = run(['explain', '-n', '8', '--masks', '0', ...args, '-q', '--out', out]);
        return refusedClean(o, pattern, out);
      },
    }),
  ),
  {
    group: 'options and resources',
    what: '--samples beyond what fits in memory (with --dump-inputs)',
    check: async (ws, run) => {
      const out = outIn(ws);
      const model = ['--model', ws.path('any-size.onnx'), '--preprocess', 'imagenet', '--grayscale', '--size', '2048'];
      return refusedClean(
        run([
          'explain',
          ...model,
          '--image',
          ws.path('photo.png'),
          '-n',
          '100000',
          '--dump-inputs',
          '--masks',
          '0',
          '--top-k',
          '2',
          '--out',
          out,
        ]),
        /would take .* GiB of memory/,
        out,
      );
    },
  },
  {
    group: 'options and resources',
    what: '--out under /proc (used to hang)',
    check: async (_ws, run) =>
      refused(
        run(['explain', ...FAST, '--out', '/proc/neuronscope-x']),
        /cannot mkdir \/proc\/neuronscope-x: no such file or folder \(ENOENT\)/,
        3,
      ),
  },
  {
    group: 'options and resources',
    what: '--out under a file (an OS error: one line, exit 3)',
    check: async (ws, run) =>
      refused(run(['explain', ...FAST, '--out', join(ws.path('photo.png'), 'x')]), /a file is in the way/, 3),
  },
];

/** Two explains of different images into one folder, then a rerun of each from the cache. */
async function sharedOutFolder(ws: Workspace, run: Run): Promise<string | null> {
  const out = outIn(ws);
  const cache = ws.path(`cache-${counter}`);
  const env = { NEURONSCOPE_CACHE_DIR: cache };
  const boot = ['explain', '--image', sample('9-ankle-boot.png'), ...FAST, '--out', out];
  const bag = ['explain', '--image', sample('8-bag.png'), ...FAST, '--out', out];
  for (const args of [boot, bag, boot, bag]) {
    const o = run(args, env);
    if (o.status !== 0) return `exit ${o.status}: ${o.stderr.trim()}`;
    const expected = args === boot ? 'Ankle boot' : 'Bag';
    const s = await summaryOf(out);
    if (s.predictions[0].label !== expected) return `a rerun of ${expected} gave ${s.predictions[0].label}`;
  }
  return null;
}

let sampleDir = '';
/** A sample image of the embedded default model. */
const sample = (name: string) => join(sampleDir, name);

/** Damages the only extraction entry of a cache and checks the rerun recomputes it with a warning. */
function damagedEntry(what: string, harm: (file: string) => Promise<void>): HostileCase {
  return {
    group: 'cache and run folders',
    what: `a cached table ${what} is detected, removed and recomputed`,
    check: async (ws, run) => {
      const cache = ws.path(`cache-damaged-${++counter}`);
      const env = { NEURONSCOPE_CACHE_DIR: cache };
      const args = ['explain', '-n', '8', '--masks', '0', '--seed', String(counter), '--out'];
      const first = run([...args, outIn(ws)], env);
      if (first.status !== 0) return `exit ${first.status}`;
      const root = join(cache, 'v2', 'extract');
      const [key] = await readdir(root);
      await harm(join(root, key!, 'channel_stats.parquet'));
      const again = outIn(ws);
      const o = run([...args, again], env);
      if (o.status !== 0) return `exit ${o.status}: ${o.stderr.trim()}`;
      if (!/damaged .*computing it again/.test(o.stderr)) return 'no warning about the damaged entry';
      // The deconv stage keeps its own entry (untouched here); only the extraction entry was damaged.
      if (/^cache hit/m.test(o.stderr)) return 'the damaged entry was used';
      return null;
    },
  };
}

const cache: HostileCase[] = [
  {
    group: 'cache and run folders',
    what: 'two explains of different images into one --out, then reruns from the cache',
    check: sharedOutFolder,
  },
  damagedEntry('with flipped bits', async (f) => {
    const bytes = await readFile(f);
    for (const at of [100, 200, 300]) bytes[at % bytes.length]! ^= 0xff;
    await writeFile(f, bytes);
  }),
  damagedEntry('truncated', async (f) => truncate(f, Math.floor((await stat(f)).size / 2))),
  damagedEntry('emptied', async (f) => writeFile(f, '')),
  {
    group: 'cache and run folders',
    what: 'a cache folder that is a file: a warning, and the result',
    check: async (ws, run) => {
      const out = outIn(ws);
      const o = run(['explain', '-n', '8', '--masks', '0', '--out', out], {
        NEURONSCOPE_CACHE_DIR: ws.path('photo.png'),
      });
      if (o.status !== 0) return `exit ${o.status}: ${o.stderr.trim()}`;
      if (!/cannot store an entry/.test(o.stderr)) return 'no warning';
      return existsSync(join(out, 'report.html')) ? null : 'no report';
    },
  },
  {
    group: 'cache and run folders',
    what: 'a cache folder the system refuses (/proc): a warning, and the result',
    check: async (ws, run) => {
      const out = outIn(ws);
      const o = run(['explain', '-n', '8', '--masks', '0', '--out', out], {
        NEURONSCOPE_CACHE_DIR: '/proc/neuronscope-cache',
      });
      if (o.status !== 0) return `exit ${o.status}: ${o.stderr.trim()}`;
      return /cannot store an entry/.test(o.stderr) ? null : 'no warning';
    },
  },
  {
    group: 'cache and run folders',
    what: "a killed rerun over a run folder: stats refuses the other run's tables",
    check: async (ws, run) => {
      const a = outIn(ws);
      const b = outIn(ws);
      if (run(['explain', '--image', sample('9-ankle-boot.png'), ...FAST, '--out', a]).status !== 0)
        return 'first run failed';
      if (run(['explain', '--image', sample('8-bag.png'), ...FAST, '--out', b]).status !== 0)
        return 'second run failed';
      await writeFile(join(a, 'channel_stats.parquet'), await readFile(join(b, 'channel_stats.parquet')));
      return refused(run(['stats', '--out', a]), /channel_stats\.parquet belongs to another run/);
    },
  },
  {
    group: 'cache and run folders',
    what: 'a summary of another seed over the tables: report refuses it',
    check: async (ws, run) => {
      const a = outIn(ws);
      const b = outIn(ws);
      if (run(['explain', '--seed', '0', ...FAST, '--out', a]).status !== 0) return 'first run failed';
      if (run(['explain', '--seed', '1', ...FAST, '--out', b]).status !== 0) return 'second run failed';
      await writeFile(join(a, 'summary.json'), await readFile(join(b, 'summary.json')));
      return refused(run(['report', '--out', a]), /summary\.json describes another run/);
    },
  },
  {
    group: 'cache and run folders',
    what: 'a run folder whose image changed since run.json: extract refuses',
    check: async (ws, run) => {
      const a = outIn(ws);
      const image = ws.path('changing.png');
      await writeFile(image, await readFile(sample('9-ankle-boot.png')));
      if (run(['perturb', '--image', image, '-n', '8', '-q', '--out', a]).status !== 0) return 'perturb failed';
      await writeFile(image, await readFile(sample('8-bag.png')));
      const o = run(['extract', '--out', a]);
      await rm(image, { force: true });
      return refused(o, /changed since run\.json was written/);
    },
  },
];

/** Every case; `samples` is the embedded default model's images folder. */
export function hostileCases(samples: string): HostileCase[] {
  sampleDir = samples;
  return [...cache, ...models, ...options];
}
