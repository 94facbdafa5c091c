/**
 * The progress bar of `dripline simulate`, on stderr so that stdout stays clean for the
 * timeline or `--json`. On a terminal it redraws in place; elsewhere (`--progress` into a
 * pipe or a CI log) it prints one line per second and a final line.
 */
import { SingleBar } from 'cli-progress';
import type { OutputStream } from './io.js';
import type { SimulateProgress } from './simulation.js';

/** Reports progress; `stop` draws the final state and ends the line. */
export interface ProgressReporter {
  /** Moves the bar. */
  update(progress: SimulateProgress): void;
  /** Draws the final state; later updates are ignored. */
  stop(): void;
}

/** A cli-progress bar over `total` contacts, writing to `stream`. */
export function createProgressBar(stream: OutputStream, total: number): ProgressReporter {
  const bar = new SingleBar({
    stream: stream as unknown as NodeJS.WritableStream,
    format: 'simulating {bar} {percentage}% | {value}/{total} contacts | {sent} sent | {duration}s',
    barsize: 24,
    hideCursor: Boolean(stream.isTTY),
    noTTYOutput: true,
    notTTYSchedule: 1000,
    gracefulExit: true,
  });
  bar.start(total, 0, { sent: 0 });
  let stopped = false;
  return {
    update(p) {
      if (!stopped) bar.update(p.done, { sent: p.sent });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
