import { SingleBar } from 'cli-progress';

export interface ProgressBar {
  /** Sets the total and the current count (the label names what is counted: files, regions, ops). */
  update(value: number, total: number, label: string): void;
  stop(): void;
}

/**
 * A progress bar on `stream` (the terminal's stderr, so stdout stays clean for `--json` and pipes);
 * without a stream, a bar that draws nothing.
 */
export function progressBar(stream: NodeJS.WritableStream | undefined, title: string): ProgressBar {
  if (!stream) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar({
    stream,
    format: `${title} [{bar}] {value}/{total} {label} | {percentage}% | {duration_formatted}`,
    // Tests and CI logs give a plain stream; draw there too, once per update.
    noTTYOutput: true,
    notTTYSchedule: 0,
    hideCursor: false,
  });
  let started = false;
  let counting: string | undefined;
  /** An update not drawn yet: the bar draws on a timer, which a quick next phase would overtake. */
  let undrawn = false;
  return {
    update(value, total, label) {
      if (!started) {
        bar.start(Math.max(total, 1), value, { label });
        [started, counting] = [true, label];
        return;
      }
      // A phase that ends is drawn with its last count before the next one's first.
      const next = label !== counting;
      if (next && undrawn) bar.render();
      bar.setTotal(Math.max(total, 1));
      bar.update(value, { label });
      if (next) bar.render();
      [undrawn, counting] = [!next, label];
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/**
 * Polls an operation record (`GET path`) until it leaves `Running`, feeding its progress to `bar`.
 * Resolves with the final record.
 */
export async function followOperation(
  get: () => Promise<Record<string, unknown>>,
  progress: (record: Record<string, unknown>) => void,
  intervalMs = 250,
): Promise<Record<string, unknown>> {
  for (;;) {
    const record = await get();
    progress(record);
    if (record['status'] !== 'Running') return record;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
