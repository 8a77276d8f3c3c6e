import {
  TableRouteNotFoundError,
  InvalidArgumentError,
  RegionId,
  withTimeout,
  type TimeProvider,
} from '@regionstore/core';
import { type Logger } from '@regionstore/runtime';
import { epochSchema } from '@regionstore/protocol';
import { z } from 'zod';
import type { FenceStore, LeaseExpiry, RegionNodeClient, RouteStore } from './migration-ports';
import { runSteps } from './procedure-steps';

/** The steps, with GreptimeDB's names; `UpdateMetadataRollback` only after a deadline passed. */
export const MIGRATION_STEPS = [
  'RegionMigrationStart',
  'OpenCandidateRegion',
  'UpdateMetadataDowngrade',
  'DowngradeLeaderRegion',
  'UpgradeCandidateRegion',
  'UpdateMetadataUpgrade',
  'CloseDowngradedRegion',
  'RegionMigrationEnd',
  'UpdateMetadataRollback',
] as const;
export type MigrationStep = (typeof MIGRATION_STEPS)[number];

const peerSchema = z.object({ id: z.string(), address: z.string() });

/** Everything a procedure needs to continue, as persisted in Redis before each step acts. */
export const migrationStateSchema = z.object({
  /** Absent in states saved before splits existed. */
  kind: z.literal('migration').optional(),
  id: z.string(),
  regionId: z.string(),
  from: peerSchema,
  to: peerSchema,
  step: z.enum(MIGRATION_STEPS),
  status: z.enum(['Running', 'Done', 'Aborted', 'Failed']),
  createdMs: z.number(),
  deadlineMs: z.number(),
  context: z.object({
    range: z.object({ start: z.string(), end: z.string() }).optional(),
    epoch: epochSchema.optional(),
    newEpoch: epochSchema.optional(),
    lastEntryId: z.number().int().nonnegative().optional(),
    /** Once the WAL fence names the target, the migration can only go forward. */
    fenceMoved: z.boolean().default(false),
    /** The old leader answered the downgrade: it serves nothing more, its lease is void. */
    downgraded: z.boolean().default(false),
    /** The target followed the region when the move began: the two copies swap roles. */
    toWasFollower: z.boolean().default(false),
  }),
  error: z.string().optional(),
});
export type MigrationState = z.output<typeof migrationStateSchema>;

export interface ProcedureDeps {
  routes: RouteStore;
  nodes: RegionNodeClient;
  fences: FenceStore;
  time: TimeProvider;
  logger: Logger;
  /** Persists the state (before each step acts). */
  save(state: MigrationState): Promise<void>;
  /** How long to wait for an old leader (or a candidate being rolled back) that may be dead. */
  downgradeTimeoutMs: number;
  /** First retry delay of a failed step; doubles up to 2 s. */
  retryBaseMs: number;
  /** The leases granted to nodes; without it, no lease is waited for. */
  leases?: LeaseExpiry;
  /** Hears how long each step took that succeeded. */
  observeStep?: (step: MigrationStep, seconds: number) => void;
}

/**
 * Moves one region's leadership from one node to another, step by step. The state is saved before
 * each step acts, and every step may run twice, so a new metasrv leader resumes a procedure from its
 * saved step. A failing step is retried. Past the deadline, before the WAL fence moved, the procedure
 * rolls back; after it, a target that still has not taken the region gets it in the route anyway
 * (see `handOver`).
 */
export class RegionMigrationProcedure {
  constructor(
    public state: MigrationState,
    private readonly deps: ProcedureDeps,
  ) {}

  get regionId(): RegionId {
    return RegionId.parse(this.state.regionId);
  }

  /** Runs to a final status, or until `signal` aborts (the state stays where it was saved). */
  async execute(signal: AbortSignal): Promise<MigrationState> {
    await runSteps(
      {
        kind: 'migration',
        regionId: this.state.regionId,
        current: () => (this.state.status === 'Running' ? this.state.step : undefined),
        runStep: (step, stepSignal) => this.runStep(step, stepSignal),
        transition: (step) => this.transition(step),
        // Once the fence names the target, the old leader can no longer write: a route left naming it
        // would leave the region with no writer and no failover (its old leader is alive).
        fail: async (message) => {
          const fenced = this.state.context.fenceMoved && this.state.step === 'UpgradeCandidateRegion';
          if (!fenced) return this.finish('Failed', message);
          // Ending with the route on the source would leave the region with no writer: retried (the
          // route store failing over) until it lands, or until this metasrv stops leading (the
          // procedure stays Running, and the next leader resumes it).
          for (let delayMs = 250; !signal.aborted; delayMs = Math.min(2000, delayMs * 2)) {
            if (await this.handOver(message)) return;
            await this.deps.time.sleep(delayMs, signal).catch(() => undefined);
          }
        },
        afterFailure: async (step) => {
          if (!this.pastDeadline() || step === 'UpdateMetadataRollback') return;
          if (!this.state.context.fenceMoved) await this.transition('UpdateMetadataRollback');
          else if (step === 'UpgradeCandidateRegion')
            await this.handOver(
              `${this.state.to.id} did not take region ${this.state.regionId} before the deadline`,
            );
        },
      },
      this.deps,
      signal,
    );
    return this.state;
  }

  /**
   * Past the deadline, with the fence on a target that does not take the region (it died after the
   * fence moved), or with an upgrade refused for good: nobody can write the region, and retrying the
   * upgrade could go on for as long as the target stays down. So the route names the target, as the
   * fence does; its failure detector then fails the region over to a live node like any region of a
   * dead node (and a target that does lead it keeps it).
   */
  private async handOver(why: string): Promise<boolean> {
    const { to } = this.state;
    try {
      await this.deps.routes.update(this.regionId, {
        leader: to.id,
        epoch: this.state.context.newEpoch!,
        state: 'Normal',
      });
      await this.finish('Failed', `${why}; the route names ${to.id}, so failover moves the region on`);
      return true;
    } catch (err) {
      // Still Running past the deadline: the upgrade is retried, and the hand-over with it.
      this.deps.logger.warn({ regionId: this.state.regionId, err }, 'handing the region over failed');
      return false;
    }
  }

  /**
   * An old leader that did not answer the downgrade (dead, paused, cut off) may still serve reads
   * until its lease runs out; the candidate serves only after that, so no read ever sees the old
   * data after the new leader acknowledged a write. Failovers rarely wait: detection takes longer
   * than a lease.
   */
  private async waitOutLease(signal: AbortSignal): Promise<void> {
    const leases = this.deps.leases;
    if (!leases) return;
    for (let waited = false; !signal.aborted; waited = true) {
      const ms = leases.remainingMs(this.state.from.id, this.regionId);
      if (ms <= 0) return;
      if (!waited) {
        this.deps.logger.info(
          { regionId: this.state.regionId, nodeId: this.state.from.id, waitMs: Math.ceil(ms) },
          "waiting out the old leader's lease",
        );
      }
      await this.deps.time.sleep(Math.ceil(ms), signal).catch(() => undefined);
    }
  }

  private pastDeadline(): boolean {
    return this.deps.time.now() > this.state.deadlineMs;
  }

  private async transition(step: MigrationStep): Promise<void> {
    this.state = { ...this.state, step };
    await this.deps.save(this.state);
  }

  private async finish(status: 'Done' | 'Aborted' | 'Failed', error?: string): Promise<void> {
    this.state = { ...this.state, status, ...(error ? { error } : {}) };
    await this.deps.save(this.state);
  }

  private region() {
    const { range, epoch } = this.state.context;
    return {
      regionId: this.regionId,
      range: { start: Buffer.from(range!.start, 'base64'), end: Buffer.from(range!.end, 'base64') },
      epoch: epoch!,
    };
  }

  /** Acts for `step`; returns the step that follows. */
  private async runStep(step: MigrationStep, signal: AbortSignal): Promise<MigrationStep> {
    const { routes, nodes, fences } = this.deps;
    const { from, to } = this.state;
    const regionId = this.regionId;
    if (step !== 'UpdateMetadataRollback' && !this.state.context.fenceMoved && this.pastDeadline()) {
      return 'UpdateMetadataRollback';
    }
    switch (step) {
      case 'RegionMigrationStart': {
        const route = await routes.get(regionId);
        if (!route) throw new TableRouteNotFoundError(`region ${regionId.toString()} has no route`);
        if (route.leader === to.id && route.state === 'Normal') return 'RegionMigrationEnd';
        if (route.leader !== from.id) {
          throw new InvalidArgumentError(
            `region ${regionId.toString()} is led by ${route.leader}, not ${from.id}`,
          );
        }
        this.state.context = {
          ...this.state.context,
          range: { start: route.range.start.toString('base64'), end: route.range.end.toString('base64') },
          epoch: route.epoch,
          toWasFollower: (route.followers ?? []).includes(to.id),
        };
        return 'OpenCandidateRegion';
      }
      case 'OpenCandidateRegion':
        await nodes.openCandidate(to, this.region());
        return 'UpdateMetadataDowngrade';
      case 'UpdateMetadataDowngrade':
        await routes.update(regionId, { state: 'Downgrading' });
        return 'DowngradeLeaderRegion';
      case 'DowngradeLeaderRegion': {
        // An old leader without a lease serves no read, and the fence move below stops its writes:
        // waiting for it to answer (a failed node never does) would only delay the failover.
        if (this.deps.leases && this.deps.leases.remainingMs(from.id, regionId) <= 0) {
          this.deps.logger.info(
            { regionId: this.state.regionId, nodeId: from.id },
            'old leader holds no lease; moving on without its downgrade',
          );
          return 'UpgradeCandidateRegion';
        }
        // The old leader may be the failed node; the fence move below cuts it off either way.
        try {
          const { lastEntryId } = await withTimeout(
            nodes.downgradeLeader(from, regionId, this.state.context.epoch!),
            this.deps.downgradeTimeoutMs,
            `downgrade of region ${regionId.toString()} on ${from.id}`,
          );
          this.state.context = { ...this.state.context, lastEntryId, downgraded: true };
        } catch (err) {
          this.deps.logger.warn(
            { regionId: this.state.regionId, nodeId: from.id, err },
            'old leader did not downgrade',
          );
        }
        return 'UpgradeCandidateRegion';
      }
      case 'UpgradeCandidateRegion': {
        const epoch = this.state.context.epoch!;
        const newEpoch = this.state.context.newEpoch ?? {
          version: epoch.version,
          confVer: epoch.confVer + 1,
        };
        if (!this.state.context.fenceMoved) {
          this.state.context = { ...this.state.context, newEpoch };
          await this.deps.save(this.state);
          await fences.setFence(regionId, { nodeId: to.id, epoch: newEpoch.confVer });
          this.state.context = { ...this.state.context, fenceMoved: true };
          await this.deps.save(this.state);
        }
        if (signal.aborted) return 'UpgradeCandidateRegion';
        if (!this.state.context.downgraded) await this.waitOutLease(signal);
        if (signal.aborted) return 'UpgradeCandidateRegion';
        const { lastEntryId } = await nodes.upgradeCandidate(to, regionId, newEpoch);
        this.state.context = { ...this.state.context, lastEntryId };
        return 'UpdateMetadataUpgrade';
      }
      case 'UpdateMetadataUpgrade': {
        // A move onto the region's follower swaps the two copies: the old leader, which the
        // downgrade turned into a follower tailing the WAL, stays as the region's follower rather
        // than being closed. Closing it left the region without a follower until the replica checker
        // built one from the object store, and a failure meanwhile reopened it from there too.
        const swap = this.state.context.downgraded && this.state.context.toWasFollower;
        await routes.update(regionId, (current) => ({
          leader: to.id,
          epoch: this.state.context.newEpoch!,
          state: 'Normal',
          ...(swap
            ? {
                followers: [
                  ...(current.followers ?? []).filter((id) => id !== to.id && id !== from.id),
                  from.id,
                ],
              }
            : {}),
        }));
        return swap ? 'RegionMigrationEnd' : 'CloseDowngradedRegion';
      }
      case 'CloseDowngradedRegion':
        // Best effort: a dead old node drops the region when it comes back and learns the route.
        await withTimeout(
          nodes.closeRegion(from, regionId, this.state.context.newEpoch!),
          this.deps.downgradeTimeoutMs,
          `close on ${from.id}`,
        ).catch((err: unknown) => {
          this.deps.logger.warn(
            { regionId: this.state.regionId, nodeId: from.id, err },
            'closing the old region failed',
          );
        });
        return 'RegionMigrationEnd';
      case 'RegionMigrationEnd':
        await this.finish('Done');
        return 'RegionMigrationEnd';
      case 'UpdateMetadataRollback': {
        const { epoch, newEpoch } = this.state.context;
        // With `newEpoch` saved, the fence may still move to the target there (a run that saved it,
        // then paused before its setFence or failed to learn its outcome): the old leader first takes
        // the placement past it, so no such move can land once the route names the old leader again.
        const back =
          epoch && newEpoch ? { version: epoch.version, confVer: newEpoch.confVer + 1 } : undefined;
        if (back) await fences.setFence(regionId, { nodeId: from.id, epoch: back.confVer });
        if (epoch)
          await routes.update(regionId, {
            leader: from.id,
            state: 'Normal',
            ...(back ? { epoch: back } : {}),
          });
        await withTimeout(
          nodes.closeRegion(to, regionId, back ?? epoch ?? { version: 0, confVer: 0 }),
          this.deps.downgradeTimeoutMs,
          `close on ${to.id}`,
        ).catch(() => undefined);
        await this.finish('Aborted', 'deadline passed before the region moved');
        return 'UpdateMetadataRollback';
      }
    }
  }
}
