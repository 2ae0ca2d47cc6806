import { allTensorLayers, layerAliases, resolveLayers, selectLayers } from '@neuronscope/model';
import type { Command } from 'commander';
import { prepareModel } from '@neuronscope/engine';
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
        const opts = modelOptionsOf(o);
        // --layers is matched here, with module paths; names outside the recordable layers select among every tensor.
        const { model, preprocessing } = await prepareModel({ ...opts, layers: undefined });
        const [height, width] = preprocessing.size;
        const channels = preprocessing.grayscale ? 1 : 3;
        const dims = preprocessing.layout === 'NCHW' ? [1, channels, height, width] : [1, height, width, channels];
        const layers = o.all
          ? selectLayers(await allTensorLayers(model, dims, preprocessing.layout), opts.layers, {
              modelPath: model.path,
              aliases: layerAliases(model),
            })
          : (await resolveLayers(model, opts.layers, dims, preprocessing.layout)).layers;
        if (o.json) process.stdout.write(`${JSON.stringify(layers, null, 2)}\n`);
        else process.stdout.write(`${model.path}\n${layersText(layers)}\n`);
      }),
    );
}
