import { environment } from '@neuronscope/engine';
import type { Command } from 'commander';
import { absolute, guarded } from '../options.js';
import { sizeText } from './cache.js';

/** `neuronscope doctor`. */
export function register(program: Command): void {
  program
    .command('doctor')
    .description('print what a bug report needs: versions, platform, cores, onnxruntime backends, the cache')
    .option('--cache-dir <dir>', 'the cache (default: $NEURONSCOPE_CACHE_DIR or ~/.cache/neuronscope)')
    .option('--json', 'print JSON')
    .action(
      guarded(async (o) => {
        const cacheDir = absolute(o.cacheDir);
        const e = await environment(...(cacheDir ? [cacheDir] : []));
        if (o.json) {
          process.stdout.write(`${JSON.stringify(e, null, 2)}\n`);
          return;
        }
        const backends = e.onnxruntime.backends
          .map((b) => `${b.name}${b.bundled ? '' : ' (not installed)'}`)
          .join(', ');
        const lines = [
          `neuronscope    ${e.neuronscope}`,
          `node           ${e.node}`,
          `platform       ${e.platform}`,
          `cpu            ${e.cpu.model}, ${e.cpu.cores} cores`,
          `memory         ${e.memory.totalGiB} GiB (${e.memory.freeGiB} GiB free)`,
          `onnxruntime    ${e.onnxruntime.version}; backends: ${backends}`,
          `sharp/libvips  ${e.sharp.sharp ?? '?'} / ${e.sharp.vips ?? '?'}`,
          `cache          ${e.cache.dir}: ${e.cache.entries} entries, ${sizeText(e.cache.bytes)}`,
          `default model  ${e.defaultModel.path}${e.defaultModel.present ? '' : ' (missing)'}`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );
}
