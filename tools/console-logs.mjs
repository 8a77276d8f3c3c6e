// What `npm start` prints of its processes' logs: the files under .data/cluster keep pino's JSON (for
// machines and `grep`); the console gets the lines at or above a level, made readable by pino-pretty.
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import pino from 'pino';
import { prettyFactory } from 'pino-pretty';

const LEVELS = pino.levels.values; // name → number, as the processes' loggers write them
export const CONSOLE_LEVELS = [...Object.keys(LEVELS), 'silent'];

/**
 * Follows every `*.log` in `dir` (files there at the start from their current end, files that appear
 * later from their beginning) and writes each line at `level` or above through `write`. A line that
 * is not JSON (a crash's stack trace) is written as it is. Returns a function that stops following.
 */
export function followLogs(
  dir,
  { level = 'info', write = (text) => process.stdout.write(text), colorize = false, intervalMs = 200 } = {},
) {
  if (level === 'silent') return () => undefined;
  const min = LEVELS[level];
  if (min === undefined)
    throw new Error(`unknown console log level '${level}' (one of ${CONSOLE_LEVELS.join(', ')})`);
  const pretty = prettyFactory({
    colorize,
    singleLine: true,
    translateTime: 'HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
  const files = new Map(); // name → { offset, rest, decoder }
  const logFiles = () => {
    try {
      return readdirSync(dir).filter((name) => name.endsWith('.log'));
    } catch {
      return [];
    }
  };
  const fresh = (offset) => ({ offset, rest: '', decoder: new StringDecoder('utf8') });
  for (const name of logFiles()) files.set(name, fresh(statSync(join(dir, name)).size));

  const show = (line) => {
    if (line.trim() === '') return;
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      write(`${line}\n`);
      return;
    }
    if (typeof entry.level === 'number' && entry.level < min) return;
    write(pretty(entry));
  };
  const poll = () => {
    for (const name of logFiles()) {
      const state = files.get(name) ?? fresh(0);
      files.set(name, state);
      const path = join(dir, name);
      const size = statSync(path, { throwIfNoEntry: false })?.size ?? 0;
      if (size < state.offset) Object.assign(state, fresh(0)); // truncated or replaced
      if (size === state.offset) continue;
      const chunk = Buffer.alloc(size - state.offset);
      const fd = openSync(path, 'r');
      try {
        readSync(fd, chunk, 0, chunk.length, state.offset);
      } finally {
        closeSync(fd);
      }
      state.offset = size;
      // The decoder keeps a character cut in two by the read for the next one.
      const lines = (state.rest + state.decoder.write(chunk)).split('\n');
      state.rest = lines.pop();
      for (const line of lines) show(line);
    }
  };
  const timer = setInterval(poll, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    poll();
  };
}
