import {
  EpochNotMatchError,
  InvalidArgumentError,
  RegionId,
  keyRange,
  type KeyRange,
} from '@regionstore/core';
import type {
  FenceStore,
  Peer,
  RegionNodeClient,
  RegionRoute,
  RouteChange,
  RouteStore,
} from '@regionstore/supervisor';

export const A: Peer = { id: 'node-a', address: 'a:1' };
export const B: Peer = { id: 'node-b', address: 'b:1' };
export const RANGE: KeyRange = keyRange(Buffer.from('a'), Buffer.from('m'));

/** The cluster the procedure acts on: a route table, two nodes' regions, the WAL fences. */
export class Cluster implements RouteStore, RegionNodeClient, FenceStore {
  readonly routes = new Map<string, RegionRoute>();
  readonly regions = new Map<string, Map<string, 'Leader' | 'Follower'>>([
    [A.id, new Map()],
    [B.id, new Map()],
  ]);
  readonly fences = new Map<string, { nodeId: string; epoch: number }>();
  readonly calls: string[] = [];
  deadNodes = new Set<string>();
  failOpen = false;
  /** The target's node task fails (as a dead node's job times out). */
  failUpgrade = false;
  /** The target refuses the upgrade for good (an error no retry cures). */
  refuseUpgrade = false;

  addRegion(regionId: RegionId, leader: Peer): void {
    this.routes.set(regionId.toString(), {
      regionId,
      range: RANGE,
      leader: leader.id,
      epoch: { version: 1, confVer: 1 },
      state: 'Normal',
    });
    this.regions.get(leader.id)!.set(regionId.toString(), 'Leader');
    this.fences.set(regionId.toString(), { nodeId: leader.id, epoch: 1 });
  }

  async get(regionId: RegionId) {
    return this.routes.get(regionId.toString());
  }
  async update(regionId: RegionId, change: RouteChange, ifEpochVersion?: number) {
    const route = this.routes.get(regionId.toString());
    if (!route || (ifEpochVersion !== undefined && route.epoch.version !== ifEpochVersion)) return false;
    const patch = typeof change === 'function' ? change(route) : change;
    if (!patch) return false;
    this.routes.set(regionId.toString(), { ...route, ...patch });
    return true;
  }
  private node(peer: Peer) {
    if (this.deadNodes.has(peer.id)) return new Promise<never>(() => undefined); // never answers
    return Promise.resolve(this.regions.get(peer.id)!);
  }
  async openCandidate(peer: Peer, region: { regionId: RegionId }) {
    this.calls.push(`open ${peer.id}`);
    if (this.failOpen) throw new Error('node refused');
    const regions = await this.node(peer);
    if (!regions.has(region.regionId.toString())) regions.set(region.regionId.toString(), 'Follower');
  }
  /** The placement each downgrade named (the one the region moves from). */
  readonly downgradeEpochs: Array<{ version: number; confVer: number }> = [];
  async downgradeLeader(peer: Peer, regionId: RegionId, epoch: { version: number; confVer: number }) {
    this.calls.push(`downgrade ${peer.id}`);
    this.downgradeEpochs.push(epoch);
    const regions = await this.node(peer);
    regions.set(regionId.toString(), 'Follower');
    return { lastEntryId: 7 };
  }
  async upgradeCandidate(peer: Peer, regionId: RegionId, epoch: { confVer: number }) {
    this.calls.push(`upgrade ${peer.id} ${epoch.confVer}`);
    if (this.failUpgrade) throw new Error(`upgrade on ${peer.id} did not finish`);
    if (this.refuseUpgrade) throw new InvalidArgumentError(`upgrade on ${peer.id} refused`);
    const regions = await this.node(peer);
    if (!regions.has(regionId.toString())) throw new Error('not open');
    regions.set(regionId.toString(), 'Leader');
    return { lastEntryId: 7 };
  }
  async closeRegion(peer: Peer, regionId: RegionId) {
    this.calls.push(`close ${peer.id}`);
    (await this.node(peer)).delete(regionId.toString());
  }
  /** As the WAL's: refuses an older epoch, or another node at the same one. */
  async setFence(regionId: RegionId, fence: { nodeId: string; epoch: number }) {
    this.calls.push(`fence ${fence.nodeId} ${fence.epoch}`);
    const current = this.fences.get(regionId.toString());
    if (
      current &&
      (fence.epoch < current.epoch || (fence.epoch === current.epoch && fence.nodeId !== current.nodeId))
    )
      throw new EpochNotMatchError(`fenced for ${current.nodeId} at ${current.epoch}`);
    this.fences.set(regionId.toString(), fence);
  }

  endState(regionId: RegionId) {
    const key = regionId.toString();
    return {
      route: { ...this.routes.get(key)!, regionId: key },
      fence: this.fences.get(key),
      onA: this.regions.get(A.id)!.get(key),
      onB: this.regions.get(B.id)!.get(key),
    };
  }
}
