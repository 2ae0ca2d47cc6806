/**
 * Issue 17, item 4: the deconvnet boxes of every neuron `fashion-select.js` selected, on every Fashion-MNIST
 * checkpoint and image, computed by neuronscope's engine (the deconv stage's deconvnet); writes
 * `deconv-boxes.json` for `fashion.py patches --boxes deconv`.
 *
 *   node tools/reproduction/dist/fashion-deconv.js [DIR] [--epochs E] [--box-threshold 0.1]
 */
import { resolve } from 'node:path';
import { deconvBoxes } from './deconv-boxes.js';

function option(args: string[], name: string): number | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : undefined;
}

const args = process.argv.slice(2);
const dir = resolve(args[0] && !args[0].startsWith('--') ? args[0] : 'out/reproduction/fashion');
const threshold = option(args, '--box-threshold');
const path = await deconvBoxes(dir, {
  maxEpoch: option(args, '--epochs') ?? Number.POSITIVE_INFINITY,
  deconv: threshold === undefined ? {} : { boxThreshold: threshold },
  command: ['node', 'tools/reproduction/dist/fashion-deconv.js', ...args].join(' '),
  onEpoch: (line) => process.stderr.write(`${line}\n`),
});
process.stderr.write(`wrote ${path}\n`);
