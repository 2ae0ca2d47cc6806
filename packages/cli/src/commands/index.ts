import type { Command } from 'commander';
import * as explain from './explain.js';
import * as extract from './extract.js';
import * as layers from './layers.js';
import * as perturb from './perturb.js';
import * as report from './report.js';
import * as stats from './stats.js';

/** Every subcommand, in the order `--help` lists them. A new command is one file here and one line below. */
const COMMANDS: readonly { register(program: Command): void }[] = [layers, perturb, extract, stats, report, explain];

/** Adds every subcommand to `program`. */
export function registerCommands(program: Command): void {
  for (const command of COMMANDS) command.register(program);
}
