// Resident memory of other processes (the cluster's nodes), read from /proc while a load runs.
import { readFileSync } from 'node:fs';

/** RSS of `pid` in bytes (Linux). */
export function rssOf(pid) {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/**
 * Samples `pid`'s RSS every `intervalMs` from now until `stop()`, which returns the RSS at the start,
 * the peak, the last sample, and every `timelineEvery`-th sample (to tell a plateau from a leak).
 */
export function sampleRss(pid, intervalMs = 200, timelineEvery = 0) {
  const start = rssOf(pid);
  let peak = start;
  let last = start;
  let samples = 0;
  const timeline = [start];
  const timer = setInterval(() => {
    last = rssOf(pid);
    peak = Math.max(peak, last);
    if (timelineEvery > 0 && ++samples % timelineEvery === 0) timeline.push(last);
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      last = rssOf(pid);
      peak = Math.max(peak, last);
      return { start, peak, last, timeline };
    },
  };
}
