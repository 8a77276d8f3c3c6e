import { ServerIsBusyError } from '@regionstore/core';
import type { Peer } from './peer';

export interface SelectorOptions {
  minRequiredItems: number;
  allowDuplication: boolean;
  /**
   * Nodes never to pick: a failed one may still count as alive for a while (failure detection is
   * quicker than `nodeDeadAfterMs`), and a failover to it would go nowhere.
   */
  exclude?: readonly string[];
}

/** Picks nodes to place regions on. */
export interface Selector {
  select(options: SelectorOptions): Promise<Peer[]>;
}

/** A node the selector may choose, with what it currently serves. */
export interface NodeCandidate extends Peer {
  alive: boolean;
  regionCount: number;
  /** An operator is taking the node out: nothing is placed on it, what it holds moves away. */
  drained?: boolean;
}

/** Alive and not being drained: a node new leaders and followers may go to. */
export function takesRegions(node: NodeCandidate): boolean {
  return node.alive && !node.drained;
}

/**
 * Nodes that take regions, those serving the fewest first (ties by id, so the choice is stable). Only
 * when none does, a drained one: a region served from a node being drained beats one served nowhere
 * (its failover target), and balancing moves it on once another node takes regions.
 */
export class LeastRegionsSelector implements Selector {
  constructor(private readonly candidates: () => Promise<NodeCandidate[]>) {}

  async select(options: SelectorOptions): Promise<Peer[]> {
    const usable = (await this.candidates()).filter(
      (node) => node.alive && !options.exclude?.includes(node.id),
    );
    const taking = usable.filter(takesRegions);
    const alive = (taking.length > 0 ? taking : usable).sort(
      (a, b) => a.regionCount - b.regionCount || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
    if (alive.length === 0) throw new ServerIsBusyError('no alive node to select');
    const picked: Peer[] = [];
    for (let i = 0; picked.length < options.minRequiredItems; i++) {
      if (i >= alive.length && !options.allowDuplication) break;
      const node = alive[i % alive.length]!;
      picked.push({ id: node.id, address: node.address });
    }
    if (picked.length < options.minRequiredItems) {
      throw new ServerIsBusyError(`need ${options.minRequiredItems} nodes, only ${alive.length} alive`, {
        required: options.minRequiredItems,
        alive: alive.length,
      });
    }
    return picked;
  }
}
