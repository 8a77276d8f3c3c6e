import { InvalidArgumentError, RegionId, TableRouteNotFoundError, keyRange } from '@regionstore/core';
import { bytesCodec, epochSchema } from '@regionstore/protocol';
import { z } from 'zod';
import type { MergeNodeClient, MergeRouteStore } from './merge-ports';
import type { RegionRoute } from './migration-ports';
import { ProcedureRefusedError } from './procedure-steps';
import { RangeProcedure, type RangeProcedureDeps } from './range-procedure';

/** The steps, after PD's merge (PrepareMerge, CommitMerge) with the data in place. */
export const MERGE_STEPS = [
  'MergeStart',
  'MergeLeaderRegions',
  'CloseFollowers',
  'UpdateMetadataMerge',
  'RetireSource',
  'MergeEnd',
  // Only after a leader died before the merge reached the object store: both routes stay, then Aborted.
  'MergeAbandon',
] as const;
export type MergeStep = (typeof MERGE_STEPS)[number];

const peerSchema = z.object({ id: z.string(), address: z.string() });
const rangeSchema = z.object({ start: bytesCodec, end: bytesCodec });

/** Everything a merge needs to continue, as persisted in Redis before each step acts. */
export const mergeStateSchema = z.object({
  kind: z.literal('merge'),
  id: z.string(),
  /** The target: the region that stays, holding both ranges. */
  regionId: z.string(),
  sourceId: z.string(),
  step: z.enum(MERGE_STEPS),
  status: z.enum(['Running', 'Done', 'Aborted', 'Failed']),
  createdMs: z.number(),
  deadlineMs: z.number(),
  reason: z.string(),
  context: z.object({
    leader: peerSchema.optional(),
    targetRange: rangeSchema.optional(),
    targetEpoch: epochSchema.optional(),
    sourceRange: rangeSchema.optional(),
    sourceEpoch: epochSchema.optional(),
    epoch: epochSchema.optional(),
    /** Both regions' followers when it started (node ids, with the region each follows). */
    followers: z.array(z.object({ node: z.string(), region: z.string() })).default([]),
  }),
  error: z.string().optional(),
  fencedOut: z.boolean().optional(),
});
export type MergeState = z.output<typeof mergeStateSchema>;

export interface MergeProcedureDeps extends RangeProcedureDeps<MergeState> {
  routes: MergeRouteStore;
  nodes: MergeNodeClient;
}

/**
 * Merges an adjacent source region into a target, both led by one node, step by step, saved before
 * each step acts, every step safe to run twice. The leader merges them on its node and flushes the
 * target whole (its manifest then holds both ranges); the followers of both (copies of the old ranges)
 * are closed; the target's route takes both ranges and the source's route goes, in one MULTI; then the
 * source's WAL and flushes are deleted (a cluster recovery must not bring it back). Like a split it only
 * goes forward once the leader was asked, unless the leader is dead past the deadline: then it ends
 * without a merge while the target's latest flush is still its own range, else goes on.
 */
export class RegionMergeProcedure extends RangeProcedure<MergeStep, MergeState> {
  protected readonly kind = 'merge';
  protected readonly leaderStep = 'MergeLeaderRegions';
  protected readonly afterLeader = 'CloseFollowers';

  constructor(
    state: MergeState,
    protected override readonly deps: MergeProcedureDeps,
  ) {
    super(state, deps);
  }

  get sourceId(): RegionId {
    return RegionId.parse(this.state.sourceId);
  }

  regionIds(): bigint[] {
    return [this.regionId.value, this.sourceId.value];
  }

  protected leader() {
    return this.state.context.leader;
  }

  protected readonly abandonStep = 'MergeAbandon';

  /** Both regions: the leader appends to both until the merge, and flushes the target for it. */
  protected fencedRegions() {
    const { targetEpoch, sourceEpoch } = this.state.context;
    return [
      { regionId: this.regionId, confVer: targetEpoch!.confVer + 1 },
      { regionId: this.sourceId, confVer: sourceEpoch!.confVer + 1 },
    ];
  }

  protected contextPastFence(): MergeState {
    const { epoch, targetEpoch } = this.state.context;
    return {
      ...this.state,
      context: { ...this.state.context, epoch: { ...epoch!, confVer: targetEpoch!.confVer + 1 } },
    };
  }

  /** The target flushed at the merged epoch: its manifest holds both ranges (a full flush). */
  protected async flushedThrough(): Promise<boolean> {
    const { epoch } = this.state.context;
    const flushed = await this.deps.observers.flushedEpochVersion(this.regionId);
    return epoch !== undefined && flushed !== undefined && flushed >= epoch.version;
  }

  private async route(regionId: RegionId): Promise<RegionRoute> {
    const route = await this.deps.routes.get(regionId);
    if (!route) throw new TableRouteNotFoundError(`region ${regionId.toString()} has no route`);
    if (route.state !== 'Normal')
      throw new InvalidArgumentError(
        `region ${regionId.toString()} is ${route.state}; merge it once it is Normal`,
      );
    return route;
  }

  protected async runStep(step: MergeStep, signal: AbortSignal): Promise<MergeStep> {
    const { routes, nodes, observers } = this.deps;
    const { regionId: target, sourceId: source } = this;
    const context = this.state.context;
    switch (step) {
      case 'MergeStart': {
        const [t, s] = [await this.route(target), await this.route(source)];
        if (t.leader !== s.leader)
          throw new InvalidArgumentError(
            `regions ${target.toString()} and ${source.toString()} are led by ${t.leader} and ${s.leader}; move one first (regionctl region migrate)`,
          );
        if (!t.range.end.equals(s.range.start) && !s.range.end.equals(t.range.start))
          throw new InvalidArgumentError(
            `regions ${target.toString()} and ${source.toString()} are not adjacent`,
          );
        const leader = await observers.node(t.leader);
        if (!leader) throw new InvalidArgumentError(`leader ${t.leader} is unknown`);
        // Sent to a dead leader, the merge would hold both regions, their failover refused, until its
        // deadline: nothing has changed yet, so it ends here (the merge checker proposes it again).
        if (await this.isDead(leader, signal))
          throw new ProcedureRefusedError(
            `regions ${target.toString()} and ${source.toString()}'s leader ${leader.id} is not alive; merge them once they failed over`,
          );
        this.state.context = {
          leader,
          targetRange: t.range,
          targetEpoch: t.epoch,
          sourceRange: s.range,
          sourceEpoch: s.epoch,
          epoch: { version: Math.max(t.epoch.version, s.epoch.version) + 1, confVer: t.epoch.confVer },
          followers: [
            ...(t.followers ?? []).map((node) => ({ node, region: target.toString() })),
            ...(s.followers ?? []).map((node) => ({ node, region: source.toString() })),
          ],
        };
        return 'MergeLeaderRegions';
      }
      case 'MergeLeaderRegions':
        await nodes.mergeRegions(context.leader!, {
          target,
          targetRange: context.targetRange!,
          targetEpoch: context.targetEpoch!,
          source,
          sourceRange: context.sourceRange!,
          sourceEpoch: context.sourceEpoch!,
          epoch: context.epoch!,
        });
        return 'CloseFollowers';
      case 'CloseFollowers':
        // Copies of the old ranges: closed before the route holds both, as a split does (see there).
        for (const { node, region } of context.followers) {
          const peer = await observers.node(node);
          if (!peer || !(await observers.isAlive(node))) continue;
          await nodes.closeRegion(peer, RegionId.parse(region), context.epoch!);
        }
        return 'UpdateMetadataMerge';
      case 'UpdateMetadataMerge': {
        const { targetRange: t, sourceRange: s } = context;
        const range = t!.end.equals(s!.start) ? keyRange(t!.start, s!.end) : keyRange(s!.start, t!.end);
        await routes.putMerge(
          {
            regionId: target,
            range,
            leader: context.leader!.id,
            epoch: context.epoch!,
            state: 'Normal',
            followers: [],
          },
          source,
        );
        return 'RetireSource';
      }
      case 'RetireSource':
        await routes.retireRegion(source);
        return 'MergeEnd';
      case 'MergeEnd':
        await this.finish('Done');
        return 'MergeEnd';
      case 'MergeAbandon':
        await this.keepRoutesPastFence();
        await this.finish('Aborted', this.state.error ?? `the ${this.kind} was abandoned`);
        return 'MergeAbandon';
    }
  }
}
