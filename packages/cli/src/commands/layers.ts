import type { Command } from 'commander';
import { prepareModel } from '@neuronscope/engine';
import { addModelOptions, guarded, modelOptionsOf } from '../options.js';
import { layersText } from '../print.js';

/** `neuronscope layers`. */
export function register(program: Command): void {
  addModelOptions(program.command('layers').description('list the recordable layers of a model'))
    .option('--json', 'print the layers as JSON')
    .action(
      guarded(async (o) => {
        const context = await prepareModel(modelOptionsOf(o));
        if (o.json) process.stdout.write(`${JSON.stringify(context.layers, null, 2)}\n`);
        else process.stdout.write(`${context.model.path}\n${layersText(context.layers)}\n`);
      }),
    );
}
