import cliProgress from 'cli-progress';

/** Where a command tells the user what it is doing: stderr, so `--json` output on stdout stays clean. */
export interface Log {
  info(message: string): void;
  /** A progress bar on a TTY; a line at least every 10 s otherwise (logs of batch jobs stay readable and alive). */
  progress(label: string, total: number): { update(done: number): void; stop(): void };
}

/** Seconds between progress lines when stderr is not a terminal. */
export const PROGRESS_LINE_SECONDS = 10;

/** Progress as lines: the first after `every` seconds, then at most one per `every` seconds, and one at the end. */
export function progressLines(
  label: string,
  total: number,
  write: (line: string) => void,
  every = PROGRESS_LINE_SECONDS,
  now: () => number = () => performance.now(),
): { update(done: number): void; stop(): void } {
  const started = now();
  let last = started;
  let done = 0;
  let printed = false;
  const line = () => {
    const seconds = (now() - started) / 1000;
    write(`${label}: ${done}/${total} (${Math.round((100 * done) / Math.max(1, total))}%) in ${seconds.toFixed(0)} s`);
    printed = true;
  };
  return {
    update(value) {
      done = value;
      if (now() - last >= every * 1000) {
        last = now();
        line();
      }
    },
    stop() {
      if (printed && done > 0) line();
    },
  };
}

/** A log that is silent with `quiet`, draws bars on a TTY, and prints progress lines otherwise. */
export function createLog(quiet: boolean): Log {
  const write = (message: string) => process.stderr.write(`${message}\n`);
  return {
    info(message) {
      if (!quiet) write(message);
    },
    progress(label, total) {
      if (quiet) return { update() {}, stop() {} };
      if (!process.stderr.isTTY) return progressLines(label, total, write);
      const bar = new cliProgress.SingleBar(
        { format: `${label} [{bar}] {value}/{total} copies  {eta_formatted} left`, stream: process.stderr },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0);
      return { update: (done) => bar.update(done), stop: () => bar.stop() };
    },
  };
}
