/**
 * Issue 17, item 4: the deconvnet boxes of every neuron `fashion-select.js` selected, on every Fashion-MNIST
 * checkpoint and image, computed by neuronscope's engine (the deconv stage's deconvnet); writes
 * `deconv-boxes.json` for `fashion.py patches --boxes deconv`.
 *
 *   node tools/reproduction/dist/fashion-deconv.js [DIR] [--epochs E] [--box-threshold 0.1] [--unpool nearest|switches]
 *     [--mode deconvnet|guided]
 *
 * The defaults are the deconv stage's; other settings give other boxes (the per-epoch cache is keyed by them).
 */
import { resolve } from 'node:path';
import type { DeconvOptions } from '@neuronscope/engine';
import { deconvBoxes } from './deconv-boxes.js';

function text(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

function option(args: string[], name: string): number | undefined {
  const value = text(args, name);
  return value === undefined ? undefined : Number(value);
}

const args = process.argv.slice(2);
const dir = resolve(args[0] && !args[0].startsWith('--') ? args[0] : 'out/reproduction/fashion');
const threshold = option(args, '--box-threshold');
const unpool = text(args, '--unpool');
const mode = text(args, '--mode');
if (unpool !== undefined && unpool !== 'nearest' && unpool !== 'switches') throw new Error(`--unpool ${unpool}`);
if (mode !== undefined && mode !== 'deconvnet' && mode !== 'guided') throw new Error(`--mode ${mode}`);
const deconv: DeconvOptions = {
  ...(threshold === undefined ? {} : { boxThreshold: threshold }),
  ...(unpool === undefined ? {} : { unpool }),
  ...(mode === undefined ? {} : { mode }),
};
const path = await deconvBoxes(dir, {
  maxEpoch: option(args, '--epochs') ?? Number.POSITIVE_INFINITY,
  deconv,
  command: ['node', 'tools/reproduction/dist/fashion-deconv.js', ...args].join(' '),
  onEpoch: (line) => process.stderr.write(`${line}\n`),
});
process.stderr.write(`wrote ${path}\n`);
