import cliProgress from 'cli-progress';

/** Where a command tells the user what it is doing: stderr, so `--json` output on stdout stays clean. */
export interface Log {
  info(message: string): void;
  /** A progress bar on a TTY; nothing otherwise (logs of batch jobs stay readable). */
  progress(label: string, total: number): { update(done: number): void; stop(): void };
}

/** A log that is silent with `quiet`, and draws bars only when stderr is a TTY. */
export function createLog(quiet: boolean): Log {
  return {
    info(message) {
      if (!quiet) process.stderr.write(`${message}\n`);
    },
    progress(label, total) {
      if (quiet || !process.stderr.isTTY) return { update() {}, stop() {} };
      const bar = new cliProgress.SingleBar(
        { format: `${label} [{bar}] {value}/{total} copies  {eta_formatted} left`, stream: process.stderr },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0);
      return { update: (done) => bar.update(done), stop: () => bar.stop() };
    },
  };
}
