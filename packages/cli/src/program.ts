import { versionLine } from '@neuronscope/engine';
import { Command } from 'commander';
import { registerCommands } from './commands/index.js';
import { EXIT } from './errors.js';

/** The `neuronscope` command line. */
export function buildProgram(): Command {
  const program = new Command('neuronscope')
    .description(
      "Explain a CNN's prediction through its own neurons, by input resampling (Lengerich, Konam et al. 2017).",
    )
    .version(versionLine(), '-V, --version', 'print the version of neuronscope, onnxruntime and Node')
    // Every error is one line, prefixed like ours.
    .configureOutput({ outputError: (text, write) => write(`neuronscope: ${text.trim()}\n`) })
    // Before the subcommands exist, so that they inherit it: commander then throws instead of exiting.
    .exitOverride();

  registerCommands(program);
  return program;
}

/** Parses `argv` and runs the command; the exit code is left in `process.exitCode`. */
export async function runCli(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
  } catch (err) {
    // commander has already printed its one-line message: 0 for --help and --version, else bad input.
    const code = (err as { exitCode?: number }).exitCode;
    process.exitCode = code === 0 ? 0 : EXIT.input;
  }
}
