// What a running `npm start` tells `npm run add-node` (and its own next start) through its data
// directory: its pid, how many storage nodes it runs, and the metasrv's URL.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const file = (dir) => join(dir, 'launcher.json');

/** The last state written in `dir`, or undefined when there is none (or it is unreadable). */
export function readLauncherState(dir) {
  try {
    const state = JSON.parse(readFileSync(file(dir), 'utf8'));
    return Number.isInteger(state.nodes) && state.nodes > 0 ? state : undefined;
  } catch {
    return undefined;
  }
}

/** Replaces the state in `dir` whole (a reader never sees half of it). */
export function writeLauncherState(dir, state) {
  const tmp = `${file(dir)}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state)}\n`);
  renameSync(tmp, file(dir));
}
