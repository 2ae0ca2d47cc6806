/** `npm run hostile`: replays every hostile case and prints what happened; exits 1 if any was not handled. */
import { replay, tally } from './replay.js';

const only = process.argv[2] ? new RegExp(process.argv[2], 'i') : undefined;
const results = await replay(only);
let group = '';
for (const r of results) {
  if (r.group !== group) {
    group = r.group;
    process.stdout.write(`\n${group}\n`);
  }
  process.stdout.write(
    `  ${r.problem === null ? 'handled  ' : 'NOT HANDLED'}  ${r.what}${r.problem ? `: ${r.problem}` : ''}\n`,
  );
}
process.stdout.write(`\n${tally(results)} (plus the queue cases of packages/sweep/test/queue.test.ts)\n`);
if (results.some((r) => r.problem !== null)) process.exitCode = 1;
