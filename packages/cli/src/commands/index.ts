import type { Command } from 'commander';
import * as ablate from './ablate.js';
import * as aggregate from './aggregate.js';
import * as atlas from './atlas.js';
import * as cache from './cache.js';
import * as deconv from './deconv.js';
import * as doctor from './doctor.js';
import * as explain from './explain.js';
import * as extract from './extract.js';
import * as layers from './layers.js';
import * as maps from './maps.js';
import * as perturb from './perturb.js';
import * as randomize from './randomize.js';
import * as report from './report.js';
import * as schedule from './schedule.js';
import * as stats from './stats.js';
import * as status from './status.js';
import * as sweep from './sweep.js';
import * as worker from './worker.js';

/** Every subcommand, in the order `--help` lists them. A new command is one file here and one line below. */
const COMMANDS: readonly { register(program: Command): void }[] = [
  layers,
  perturb,
  extract,
  stats,
  maps,
  deconv,
  report,
  explain,
  ablate,
  randomize,
  sweep,
  worker,
  status,
  schedule,
  aggregate,
  atlas,
  cache,
  doctor,
];

/** Adds every subcommand to `program`. */
export function registerCommands(program: Command): void {
  for (const command of COMMANDS) command.register(program);
}
