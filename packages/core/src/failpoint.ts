import { FailPointError, InvalidArgumentError } from './errors';

/**
 * Named fault-injection points, as TiKV's fail-rs: `await failpoint('region_apply_snap')` does
 * nothing unless a test or the `REGIONSTORE_FAILPOINTS` environment variable enabled an action.
 *
 * Actions: `off`, `return` (failpoint resolves true and the caller returns early), `throw[(msg)]`,
 * `delay(ms)`, `pause` (waits until the point is reconfigured or removed). A `N*` prefix fires the
 * action N times, then turns the point off: `1*throw(disk gone)`.
 */
export type FailAction =
  | { kind: 'off' }
  | { kind: 'return' }
  | { kind: 'throw'; message: string }
  | { kind: 'delay'; ms: number }
  | { kind: 'pause' };

interface Entry {
  action: FailAction;
  remaining: number;
}

const points = new Map<string, Entry>();
const paused = new Map<string, Array<() => void>>();
const hits = new Map<string, number>();

export function parseFailAction(text: string): { action: FailAction; count: number } {
  const match = /^(?:(\d+)\*)?(off|return|throw|delay|pause)(?:\((.*)\))?$/.exec(text.trim());
  if (!match) throw new InvalidArgumentError(`invalid fail point action '${text}'`, { text });
  const count = match[1] === undefined ? Infinity : Number(match[1]);
  const arg = match[3];
  switch (match[2]) {
    case 'off':
      return { action: { kind: 'off' }, count };
    case 'return':
      return { action: { kind: 'return' }, count };
    case 'pause':
      return { action: { kind: 'pause' }, count };
    case 'throw':
      return { action: { kind: 'throw', message: arg ?? 'fail point triggered' }, count };
    default: {
      const ms = Number(arg);
      if (arg === undefined || !Number.isFinite(ms) || ms < 0) {
        throw new InvalidArgumentError(`fail point delay needs a duration in ms: '${text}'`, { text });
      }
      return { action: { kind: 'delay', ms }, count };
    }
  }
}

/** Enables a fail point; `action` is a FailAction or its text form (`delay(100)`, `2*return`). */
export function configureFailPoint(name: string, action: FailAction | string): void {
  const parsed = typeof action === 'string' ? parseFailAction(action) : { action, count: Infinity };
  points.set(name, { action: parsed.action, remaining: parsed.count });
  releasePaused(name);
}

export function removeFailPoint(name: string): void {
  points.delete(name);
  releasePaused(name);
}

export function clearFailPoints(): void {
  for (const name of [...points.keys()]) removeFailPoint(name);
  hits.clear();
}

/** How many times a point fired an action (not counting `off`). */
export function failPointHits(name: string): number {
  return hits.get(name) ?? 0;
}

/** Reads `name=action;name=action` (the `REGIONSTORE_FAILPOINTS` format). */
export function configureFailPointsFrom(spec: string | undefined): void {
  if (!spec) return;
  for (const item of spec.split(';')) {
    if (!item.trim()) continue;
    const at = item.indexOf('=');
    if (at <= 0) throw new InvalidArgumentError(`invalid fail point setting '${item}': expected name=action`);
    configureFailPoint(item.slice(0, at).trim(), item.slice(at + 1));
  }
}

/**
 * Evaluates a fail point. Returns true when the caller should return early (`return` action); throws
 * FailPointError for `throw`; waits for `delay` and `pause`.
 */
export function failpoint(name: string): boolean | Promise<boolean> {
  if (points.size === 0) return false;
  const entry = points.get(name);
  if (!entry || entry.action.kind === 'off') return false;
  const action = entry.action;
  hits.set(name, (hits.get(name) ?? 0) + 1);
  entry.remaining -= 1;
  if (entry.remaining <= 0) points.delete(name);
  switch (action.kind) {
    case 'return':
      return true;
    case 'throw':
      throw new FailPointError(`${name}: ${action.message}`, { failpoint: name });
    case 'delay':
      return new Promise((resolve) => setTimeout(() => resolve(false), action.ms));
    case 'pause':
      return new Promise((resolve) => {
        const waiting = paused.get(name) ?? [];
        waiting.push(() => resolve(false));
        paused.set(name, waiting);
      });
  }
}

function releasePaused(name: string): void {
  const waiting = paused.get(name);
  if (!waiting) return;
  paused.delete(name);
  for (const wake of waiting) wake();
}

configureFailPointsFrom(process.env.REGIONSTORE_FAILPOINTS);
