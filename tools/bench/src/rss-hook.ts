/**
 * Preloaded with `node --import` by the sweep benchmark: at exit, writes the process's peak resident set size (every
 * thread's, the extraction workers' included) to the file `NEURONSCOPE_BENCH_RSS_FILE` names.
 */
import { writeFileSync } from 'node:fs';

const file = process.env.NEURONSCOPE_BENCH_RSS_FILE;
if (file) {
  process.on('exit', () => {
    // resourceUsage().maxRSS is in kilobytes.
    writeFileSync(file, JSON.stringify({ maxRssMB: process.resourceUsage().maxRSS / 1024 }));
  });
}
