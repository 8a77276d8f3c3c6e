/** A node is forgotten once it has not been heard from for this long (a dead node holds nothing back). */
const FORGET_AFTER_MS = 60_000;

/** The earliest clock of a process and the nodes heard from lately, read now. */
export interface EarliestClock {
  nowMs: number;
  /** The node whose clock it is; undefined when the process's own is the earliest. */
  nodeId: string | undefined;
}

/**
 * How far each storage node's clock is from this process's, from the time each heartbeat says it was
 * built on its node. Nodes commit at timestamps from their own clocks, so what must trail "now" (the
 * GC safepoint) trails the earliest clock among them, not only this process's: a metasrv whose clock
 * ran ahead would otherwise collect history the nodes still write and read at, for good. A heartbeat's
 * time in the queue makes its node look behind: the safe side.
 */
export class NodeClocks {
  private readonly offsets = new Map<string, { offsetMs: number; heardAtMs: number }>();

  constructor(private readonly now: () => number = () => Date.now()) {}

  /** A heartbeat of `nodeId` built at `nodeNowMs` on its clock, heard now. */
  heard(nodeId: string, nodeNowMs: number): void {
    const at = this.now();
    this.offsets.set(nodeId, { offsetMs: nodeNowMs - at, heardAtMs: at });
  }

  /** Undefined while no node was heard from lately: nothing then says what clocks the commits use. */
  earliest(): EarliestClock | undefined {
    const now = this.now();
    let earliest: EarliestClock = { nowMs: now, nodeId: undefined };
    let heard = false;
    for (const [nodeId, { offsetMs, heardAtMs }] of this.offsets) {
      if (now - heardAtMs > FORGET_AFTER_MS) {
        this.offsets.delete(nodeId);
        continue;
      }
      heard = true;
      if (now + offsetMs < earliest.nowMs) earliest = { nowMs: now + offsetMs, nodeId };
    }
    return heard ? earliest : undefined;
  }
}
