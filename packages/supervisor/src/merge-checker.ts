import { compareKeys, isRegionStoreError, type TimeProvider } from '@regionstore/core';
import type { Logger, Registry } from '@regionstore/runtime';
import type { RegionMergeTask } from './migration-manager';
import type { RegionRoute } from './migration-ports';
import type { RegionMigrationTask } from './migration-submitter';
import { PeriodicChecker } from './periodic';
import type { Peer } from './peer';
import { takesRegions, type NodeCandidate } from './selector';

export interface MergeCheckerDeps {
  routes: () => Promise<RegionRoute[]>;
  /** Each region's approximate size in bytes, as its leader last reported it. */
  sizes: () => ReadonlyMap<bigint, number>;
  /** Each region's estimated MVCC versions, where its leader reports them. */
  keys?: () => ReadonlyMap<bigint, number>;
  /** Regions whose leaders propose a load-based split: hot, so not merged (PD's rule). */
  loadSplitKeys?: () => ReadonlyMap<bigint, Buffer>;
  procedures: {
    startMerge(task: RegionMergeTask): Promise<string>;
    submit(task: RegionMigrationTask): Promise<void>;
    isMigrating(regionId: RegionRoute['regionId']): boolean;
  };
  peers: { node(nodeId: string): Promise<Peer | undefined> };
  /**
   * Every known node, alive and drained or not: a move to merge never places a region on a node that
   * takes none (a drained one would have it moved off again by balancing). Without it, any node does.
   */
  candidates?: () => Promise<NodeCandidate[]>;
  maintenance: { isEnabled(): Promise<boolean> };
  /** Both regions of a pair at most this big (PD's max-merge-region-size). */
  maxSizeBytes: number;
  /** Both with at most this many versions, where reported (PD's max-merge-region-keys). */
  maxKeys?: number;
  /** A region's range must have held still this long (PD's split-merge-interval). */
  splitMergeIntervalMs: number;
  /** Merges stop at this many regions: they undo splits, not the bootstrap's layout. */
  minRegions: number;
  intervalMs: number;
  timeoutMs: number;
  time?: TimeProvider;
  logger?: Logger;
  metrics?: Registry;
}

export type MergeDecision =
  | { merged: string; into: string }
  | { moved: string; to: string }
  | { skipped: 'maintenance' | 'none' | 'busy' };

/**
 * PD's merge checker, run by the metasrv leader: every interval, the first pair of adjacent regions
 * that are both small, neither changed range for `splitMergeIntervalMs` (so a region just split is not
 * merged back at once: tikv#17376's merge storms) and no procedure holds, is merged; when two nodes
 * lead them, the smaller moves to the other's leader first (a merge needs one node to hold both), and
 * the merge follows in a later round; the larger moves instead when its node, where the smaller
 * would go, takes no regions (drained or dead), and the pair waits when neither node takes them.
 * One action per round; none in maintenance mode, and none once
 * the cluster is down to `minRegions`. A hot region (one its leader wants split by load) is left alone.
 */
export class MergeChecker extends PeriodicChecker<'merged' | 'moved' | 'none' | 'maintenance' | 'busy'> {
  /** When each region was first seen at its current epoch version (its range since then). */
  private readonly stableSince = new Map<bigint, { version: number; sinceMs: number }>();

  constructor(private readonly deps: MergeCheckerDeps) {
    super(deps, 'merge_checks', 'Merge check rounds, by result (merged, moved, none, maintenance, busy)');
  }

  async tick(): Promise<MergeDecision> {
    const decision = await this.decide();
    this.count('skipped' in decision ? decision.skipped : 'merged' in decision ? 'merged' : 'moved');
    return decision;
  }

  private async decide(): Promise<MergeDecision> {
    if (await this.deps.maintenance.isEnabled()) return { skipped: 'maintenance' };
    const routes = (await this.deps.routes()).sort((a, b) => compareKeys(a.range.start, b.range.start));
    const now = this.time.now();
    const stable = (route: RegionRoute) => {
      const seen = this.stableSince.get(route.regionId.value);
      if (!seen || seen.version !== route.epoch.version) {
        this.stableSince.set(route.regionId.value, { version: route.epoch.version, sinceMs: now });
        return false;
      }
      return now - seen.sinceMs >= this.deps.splitMergeIntervalMs;
    };
    const known = new Set(routes.map((r) => r.regionId.value));
    for (const id of this.stableSince.keys()) if (!known.has(id)) this.stableSince.delete(id);
    const settled = new Set(routes.filter(stable).map((r) => r.regionId.value));
    if (routes.length <= this.deps.minRegions) return { skipped: 'none' };
    const sizes = this.deps.sizes();
    const keys = this.deps.keys?.() ?? new Map<bigint, number>();
    const hot = this.deps.loadSplitKeys?.() ?? new Map<bigint, Buffer>();
    const { maxSizeBytes, maxKeys } = this.deps;
    const small = (route: RegionRoute) => {
      const bytes = sizes.get(route.regionId.value);
      const versions = keys.get(route.regionId.value) ?? 0;
      return (
        bytes !== undefined &&
        bytes <= maxSizeBytes &&
        (maxKeys === undefined || versions <= maxKeys) &&
        !hot.has(route.regionId.value)
      );
    };
    for (let i = 1; i < routes.length; i++) {
      const [left, right] = [routes[i - 1]!, routes[i]!];
      if (!left.range.end.equals(right.range.start)) continue;
      if (![left, right].every((r) => r.state === 'Normal' && settled.has(r.regionId.value) && small(r)))
        continue;
      if (this.deps.procedures.isMigrating(left.regionId) || this.deps.procedures.isMigrating(right.regionId))
        continue;
      const decision = await this.act(left, right, sizes);
      if (decision) return decision;
    }
    return { skipped: 'none' };
  }

  /**
   * Merges the right region into the left, or first moves the smaller to the other's leader;
   * undefined when neither can move (the next pair is looked at instead).
   */
  private async act(
    left: RegionRoute,
    right: RegionRoute,
    sizes: ReadonlyMap<bigint, number>,
  ): Promise<MergeDecision | undefined> {
    try {
      if (left.leader === right.leader) {
        await this.deps.procedures.startMerge({
          regionId: left.regionId,
          source: right.regionId,
          reason: 'size',
          timeoutMs: this.deps.timeoutMs,
        });
        this.logger.info(
          { regionId: left.regionId.toString(), source: right.regionId.toString() },
          'merging small regions',
        );
        return { merged: right.regionId.toString(), into: left.regionId.toString() };
      }
      const [smaller, larger] =
        (sizes.get(left.regionId.value) ?? 0) <= (sizes.get(right.regionId.value) ?? 0)
          ? [left, right]
          : [right, left];
      const taking = await this.nodesTakingRegions();
      const takes = (route: RegionRoute) => !taking || taking.has(route.leader);
      const [mover, stayer] = takes(larger) ? [smaller, larger] : takes(smaller) ? [larger, smaller] : [];
      if (!mover || !stayer) return undefined;
      const [from, to] = [
        await this.deps.peers.node(mover.leader),
        await this.deps.peers.node(stayer.leader),
      ];
      if (!from || !to) return undefined;
      await this.deps.procedures.submit({
        regionId: mover.regionId,
        fromPeer: from,
        toPeer: to,
        timeoutMs: this.deps.timeoutMs,
      });
      this.logger.info(
        { regionId: mover.regionId.toString(), to: to.id, mergeWith: stayer.regionId.toString() },
        'moving a small region next to its neighbour to merge them',
      );
      return { moved: mover.regionId.toString(), to: to.id };
    } catch (err) {
      if (isRegionStoreError(err, 'MigrationRunning')) return { skipped: 'busy' };
      throw err;
    }
  }

  /** The ids of the nodes a region may move to; undefined when the checker was not told the nodes. */
  private async nodesTakingRegions(): Promise<Set<string> | undefined> {
    if (!this.deps.candidates) return undefined;
    return new Set((await this.deps.candidates()).filter(takesRegions).map((n) => n.id));
  }
}
