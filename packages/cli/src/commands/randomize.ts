import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UserError, writeFileAtomic } from '@neuronscope/core';
import { loadModel, randomizeTopConvs } from '@neuronscope/model';
import type { Command } from 'commander';
import { guarded, integer } from '../options.js';

/** `neuronscope randomize`. */
export function register(program: Command): void {
  program
    .command('randomize')
    .description(
      'sanity check (Adebayo et al. 2018): write a copy of a model whose top K Conv layers have random weights',
    )
    .requiredOption('-m, --model <file>', 'ONNX model')
    .requiredOption('--from-top <K>', 'randomize the K deepest Conv layers (cascading from the top)', integer(1))
    .option('--seed <seed>', 'random seed', integer(0), 0)
    .requiredOption('-o, --out <file>', 'the randomized model (.onnx)')
    .option('--json', 'print what was randomized as JSON')
    .option('-q, --quiet', 'print nothing but errors')
    .action(
      guarded(async (o) => {
        const model = await loadModel(resolve(o.model as string));
        const out = resolve(o.out as string);
        if (out === model.path) throw new UserError('--out must not be the input model');
        const result = randomizeTopConvs(await readFile(model.path), {
          fromTop: o.fromTop as number,
          seed: o.seed as number,
        });
        await writeFileAtomic(out, result.bytes);
        await loadModel(out); // the result must still load and pass neuronscope's checks
        const report = {
          model: model.path,
          out,
          seed: o.seed,
          convLayers: result.convCount,
          randomized: result.randomized,
        };
        if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else if (!o.quiet) {
          const names = result.randomized.map((r) => `${r.convIndex}:${r.convNode}`).join(', ');
          process.stdout.write(
            `randomized ${result.randomized.length} of ${result.convCount} Conv layers (${names})\nwrote ${out}\n`,
          );
        }
      }),
    );
}
