#!/usr/bin/env node
import { runCli } from './program.js';

// Started through an npm script (`npm run neuronscope -- ...` in a clone), the process runs in the package's folder;
// relative paths are the caller's, so resolve them against the folder npm was called from.
if (process.env.INIT_CWD && process.env.npm_lifecycle_event === 'neuronscope') process.chdir(process.env.INIT_CWD);

await runCli(process.argv);
