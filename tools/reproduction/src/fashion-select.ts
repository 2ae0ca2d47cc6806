/**
 * Issue #6, part 2, step 2: neuron selection with neuronscope on every Fashion-MNIST checkpoint and every image
 * of the fixed set that `fashion.py train` wrote. Runs the product's own stages in-process (perturb, extract,
 * stats: the paper perturbation, N = 50, top-5 per layer, all five conv layers) and writes `selections.json`:
 * per (epoch, image), the per-layer sets selected by correlation and by precision and their overlaps.
 *
 *   node tools/reproduction/dist/fashion-select.js [DIR] [--samples 50] [--seed 1] [--top-k 5] [--epochs E]
 */
import { resolve } from 'node:path';
import { selectCheckpoints } from './select.js';

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

const args = process.argv.slice(2);
const dir = resolve(args[0] && !args[0].startsWith('--') ? args[0] : 'out/reproduction/fashion');
const path = await selectCheckpoints(dir, {
  samples: option(args, '--samples', 50),
  seed: option(args, '--seed', 1),
  topK: option(args, '--top-k', 5),
  maxEpoch: option(args, '--epochs', Number.POSITIVE_INFINITY),
  command: ['node', 'tools/reproduction/dist/fashion-select.js', ...args].join(' '),
  onEpoch: (line) => process.stderr.write(`${line}\n`),
});
process.stderr.write(`wrote ${path}\n`);
