import cliProgress from 'cli-progress';

/**
 * A progress bar for long work. It draws only on an interactive terminal, so logs, CI and
 * piped output stay clean; `quiet` turns it off everywhere.
 */
export interface Progress {
  tick(n?: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

export function progressBar(label: string, total: number, opts: { quiet?: boolean; extra?: string } = {}): Progress {
  if (opts.quiet || !process.stderr.isTTY || total <= 0) {
    return { tick() {}, stop() {} };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted}${opts.extra ? ` | ${opts.extra}` : ''}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    tick(n = 1, payload) {
      bar.increment(n, payload);
    },
    stop() {
      bar.stop();
    },
  };
}
