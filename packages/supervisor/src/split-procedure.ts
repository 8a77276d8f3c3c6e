import {
  InvalidArgumentError,
  RegionId,
  isRegionStoreError,
  TableRouteNotFoundError,
  compareKeys,
  escapeKey,
  formatRange,
  keyRange,
} from '@regionstore/core';
import { bytesCodec, epochSchema } from '@regionstore/protocol';
import { z } from 'zod';
import { ProcedureRefusedError } from './procedure-steps';
import { RangeProcedure, type RangeProcedureDeps } from './range-procedure';
import type { Peer } from './peer';
import type { SplitNodeClient, SplitRouteStore } from './split-ports';

/** The steps, after TiKV's split and PD's region-id allocation. */
export const SPLIT_STEPS = [
  'SplitStart',
  'SplitLeaderRegion',
  'CloseFollowers',
  'UpdateMetadataSplit',
  'SplitEnd',
  // Only after a leader died before the split reached the object store: the child goes, then Aborted.
  'SplitAbandon',
] as const;
export type SplitStep = (typeof SPLIT_STEPS)[number];

const peerSchema = z.object({ id: z.string(), address: z.string() });

/** Everything a split needs to continue, as persisted in Redis before each step acts. */
export const splitStateSchema = z.object({
  kind: z.literal('split'),
  id: z.string(),
  regionId: z.string(),
  step: z.enum(SPLIT_STEPS),
  status: z.enum(['Running', 'Done', 'Aborted', 'Failed']),
  createdMs: z.number(),
  deadlineMs: z.number(),
  /** Why it runs: `manual` (an operator), `size` (the split checker). */
  reason: z.string(),
  context: z.object({
    /** Asked for, or found by the leader (the middle of the region's data) at the start. */
    splitKey: bytesCodec.optional(),
    leader: peerSchema.optional(),
    range: z.object({ start: bytesCodec, end: bytesCodec }).optional(),
    epoch: epochSchema.optional(),
    childId: z.string().optional(),
    newEpoch: epochSchema.optional(),
    childEpoch: epochSchema.optional(),
    /** The parent's followers when it started: copies of the whole range, closed before the routes. */
    followers: z.array(z.string()).default([]),
  }),
  error: z.string().optional(),
  fencedOut: z.boolean().optional(),
});
export type SplitState = z.output<typeof splitStateSchema>;

export interface SplitProcedureDeps extends RangeProcedureDeps<SplitState> {
  routes: SplitRouteStore;
  nodes: SplitNodeClient;
}

/**
 * Splits one region in two at a key, step by step, saved before each step acts, every step safe to
 * run twice (a new metasrv leader resumes it). The leader splits on its node and flushes both halves,
 * so each has a manifest of just its own range, before the routes name the child; both routes are
 * then written in one command. The child is led by the parent's leader (the balancer may move it
 * later) and both start without followers (the replica checker adds them). Once the leader was asked
 * to split, the procedure only goes forward, retrying, unless its leader is dead past the deadline:
 * then it ends without a split when the parent's latest flush is still the whole range (nothing
 * changed that a failover could not open), and writes the routes anyway when the split already
 * reached the object store.
 */
export class RegionSplitProcedure extends RangeProcedure<SplitStep, SplitState> {
  protected readonly kind = 'split';
  protected readonly leaderStep = 'SplitLeaderRegion';
  protected readonly afterLeader = 'CloseFollowers';

  constructor(
    state: SplitState,
    protected override readonly deps: SplitProcedureDeps,
  ) {
    super(state, deps);
  }

  /** The regions it owns while it runs: the parent and, once allocated, the child. */
  regionIds(): bigint[] {
    const child = this.state.context.childId;
    return [this.regionId.value, ...(child ? [RegionId.parse(child).value] : [])];
  }

  protected leader() {
    return this.state.context.leader;
  }

  /**
   * Both halves are in the object store: the parent flushed at the new epoch (it may do so on its own
   * while writes go on, before the child's flush) and the child flushed at all. A parent flushed
   * without its child ends the split: an open of the parent at its old epoch is then refused
   * (EpochNotMatch) until the leader returns, unavailability, never a half served as whole.
   */
  protected async flushedThrough(): Promise<boolean> {
    const { newEpoch, childId } = this.state.context;
    if (!newEpoch || !childId) return false;
    const parent = await this.deps.observers.flushedEpochVersion(this.regionId);
    const child = await this.deps.observers.flushedEpochVersion(RegionId.parse(childId));
    return parent !== undefined && parent >= newEpoch.version && child !== undefined;
  }

  protected readonly abandonStep = 'SplitAbandon';

  /** The parent: the leader appends and flushes it for the split (the child has no route yet). */
  protected fencedRegions() {
    return [{ regionId: this.regionId, confVer: this.state.context.epoch!.confVer + 1 }];
  }

  protected contextPastFence(): SplitState {
    const { newEpoch, epoch } = this.state.context;
    return {
      ...this.state,
      context: { ...this.state.context, newEpoch: { ...newEpoch!, confVer: epoch!.confVer + 1 } },
    };
  }

  /**
   * The middle of the region's data, from its leader. Nothing has changed yet, so a leader that cannot
   * answer (dead, or restarted without the region open) ends the split as Failed rather than holding
   * the region: its failover and its reopening wait while a procedure runs on it, and the split checker
   * proposes the split again later.
   */
  private async askSplitKey(leader: Peer, signal: AbortSignal): Promise<Buffer | undefined> {
    const id = this.regionId.toString();
    try {
      return await this.unlessDead(
        this.deps.nodes.splitKey(leader, this.regionId),
        leader,
        () => true,
        () =>
          new ProcedureRefusedError(
            `region ${id}'s leader ${leader.id} is dead; split it once it failed over`,
          ),
        signal,
      );
    } catch (err) {
      if (!isRegionStoreError(err, 'RegionNotFound') && !isRegionStoreError(err, 'NotLeader')) throw err;
      throw new ProcedureRefusedError(
        `region ${id} is not open as leader on ${leader.id} (${(err as Error).message}); split it once it is`,
        { cause: err },
      );
    }
  }

  protected async runStep(step: SplitStep, signal: AbortSignal): Promise<SplitStep> {
    const { routes, nodes, observers } = this.deps;
    const regionId = this.regionId;
    switch (step) {
      case 'SplitStart': {
        const route = await routes.get(regionId);
        if (!route) throw new TableRouteNotFoundError(`region ${regionId.toString()} has no route`);
        if (route.state !== 'Normal')
          throw new InvalidArgumentError(
            `region ${regionId.toString()} is ${route.state}; split it once it is Normal`,
          );
        const leader = await observers.node(route.leader);
        if (!leader)
          throw new InvalidArgumentError(`region ${regionId.toString()}'s leader ${route.leader} is unknown`);
        // Sent to a dead leader the split would hold the region, its failover refused, until its deadline.
        if (await this.isDead(leader, signal))
          throw new ProcedureRefusedError(
            `region ${regionId.toString()}'s leader ${leader.id} is not alive; split it once it failed over`,
          );
        const splitKey = this.state.context.splitKey ?? (await this.askSplitKey(leader, signal));
        if (!splitKey)
          throw new InvalidArgumentError(`region ${regionId.toString()} holds too little data to split`);
        const { start, end } = route.range;
        if (compareKeys(splitKey, start) <= 0 || (end.length > 0 && compareKeys(splitKey, end) >= 0))
          throw new InvalidArgumentError(
            `split key "${escapeKey(splitKey)}" is not inside region ${regionId.toString()} ${formatRange(route.range)}`,
          );
        const child = this.state.context.childId
          ? RegionId.parse(this.state.context.childId)
          : await routes.allocateRegionId(regionId.tableId);
        // TiKV bumps the version on a split; the child starts at the parent's new epoch.
        const newEpoch = { version: route.epoch.version + 1, confVer: route.epoch.confVer };
        this.state.context = {
          splitKey,
          leader,
          range: route.range,
          epoch: route.epoch,
          childId: child.toString(),
          newEpoch,
          childEpoch: { ...newEpoch },
          followers: route.followers ?? [],
        };
        return 'SplitLeaderRegion';
      }
      case 'SplitLeaderRegion': {
        const { leader, range, epoch, splitKey, childId, newEpoch, childEpoch } = this.state.context;
        await nodes.splitRegion(leader!, {
          regionId,
          range: range!,
          epoch: epoch!,
          splitKey: splitKey!,
          child: RegionId.parse(childId!),
          newEpoch: newEpoch!,
          childEpoch: childEpoch!,
        });
        return 'CloseFollowers';
      }
      case 'CloseFollowers': {
        // A follower still holds the whole range. Closed (and its data queued for deletion) before the
        // routes name the halves, so no copy of either half opens beside it on its node and has its
        // data deleted from under it; a dead node's copy is closed when it comes back.
        for (const id of this.state.context.followers) {
          const peer = await observers.node(id);
          if (!peer || !(await observers.isAlive(id))) continue;
          await nodes.closeRegion(peer, regionId, this.state.context.newEpoch!);
        }
        return 'UpdateMetadataSplit';
      }
      case 'UpdateMetadataSplit': {
        const { leader, range, splitKey, childId, newEpoch, childEpoch } = this.state.context;
        await routes.putSplit(
          {
            regionId,
            range: keyRange(range!.start, splitKey!),
            leader: leader!.id,
            epoch: newEpoch!,
            state: 'Normal',
            followers: [],
          },
          {
            regionId: RegionId.parse(childId!),
            range: keyRange(splitKey!, range!.end),
            leader: leader!.id,
            epoch: childEpoch!,
            state: 'Normal',
            followers: [],
          },
        );
        return 'SplitEnd';
      }
      case 'SplitEnd':
        await this.finish('Done');
        return 'SplitEnd';
      case 'SplitAbandon': {
        // The child no route will name: its WAL (with the fence that names the dead leader) and any
        // flush it made. Left behind, a cluster recovery, which rebuilds routes from manifests, would
        // bring it back beside the parent that still holds its range. Saved as the step before it
        // acts, so a procedure resumed meanwhile never sends the split again to a leader that came
        // back (its child would open on a WAL this deleted, empty).
        const { childId } = this.state.context;
        if (childId) await routes.retireRegion(RegionId.parse(childId));
        await this.keepRoutesPastFence();
        await this.finish('Aborted', this.state.error ?? `the ${this.kind} was abandoned`);
        return 'SplitAbandon';
      }
    }
  }
}
