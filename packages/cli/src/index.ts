/**
 * `@neuronscope/cli`: the `neuronscope` command line. It parses arguments and prints; everything else is the
 * engine's (`@neuronscope/engine`), which is also the programmatic front.
 */
export { createLog, type Log } from './log.js';
export { buildProgram, runCli } from './program.js';
