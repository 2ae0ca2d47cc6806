import { listLayers } from '@neuronscope/engine';
import type { Command } from 'commander';
import { addModelOptions, guarded, modelOptionsOf } from '../options.js';
import { layersText } from '../print.js';

/** `neuronscope layers`. */
export function register(program: Command): void {
  addModelOptions(program.command('layers').description('list the recordable layers of a model'))
    .option(
      '--all',
      'list every 4-D float tensor (residual Adds, Concats, pooling outputs, ...), with op type and shape',
    )
    .option('--json', 'print the layers as JSON')
    .action(
      guarded(async (o) => {
        const { model, layers } = await listLayers(modelOptionsOf(o), Boolean(o.all));
        if (o.json) process.stdout.write(`${JSON.stringify(layers, null, 2)}\n`);
        else process.stdout.write(`${model.path}\n${layersText(layers)}\n`);
      }),
    );
}
