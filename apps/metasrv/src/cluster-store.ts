import { randomUUID } from 'node:crypto';
import { NotLeaderError, RegionId, ServerIsBusyError } from '@regionstore/core';
import { type RedisClient } from '@regionstore/runtime';
import { clusterKey, epochSchema, metasrvLeaderKey, type Route } from '@regionstore/protocol';
import type {
  NodeCandidate,
  Peer,
  PeerLookup,
  RegionRoute,
  RouteChange,
  RouteStore,
} from '@regionstore/supervisor';
import { z } from 'zod';
import { RouteTable } from './route-table';

const storedRouteSchema = z.object({
  start: z.string(),
  end: z.string(),
  leader: z.string(),
  epoch: epochSchema,
  state: z.enum(['Normal', 'Downgrading']),
  followers: z.array(z.string()).default([]),
});

const storedNodeSchema = z.object({
  address: z.string(),
  lastHeartbeatMs: z.number(),
  regions: z.number().int().nonnegative(),
  leaders: z.number().int().nonnegative(),
});
export type StoredNode = z.output<typeof storedNodeSchema>;

/**
 * Route writes check the metasrv leader key first (ARGV[1] the writer, '' for a writer that is no
 * metasrv): a deposed leader that resumes after a pause writes nothing, whatever its JS state believes.
 */
const WHILE_LEADING = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end`;
/**
 * Every route write also sets the routes' version (KEYS[3]) to a token never used before (ARGV[2]), so
 * a reader's cached table is current exactly while the version still holds its token.
 */
const NEW_VERSION = `
redis.call('SET', KEYS[3], ARGV[2])`;
/**
 * Writes a route only if it still holds what the writer read (KEYS routes, leader, version; ARGV
 * writer, token, field, old, new): 1 written, 0 changed meanwhile, -1 the writer does not lead.
 */
const SET_IF_UNCHANGED = `${WHILE_LEADING}
if redis.call('HGET', KEYS[1], ARGV[3]) ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[5])${NEW_VERSION}
return 1`;
/**
 * Writes routes at once (KEYS routes, leader, version; ARGV writer, token, a field to delete or '',
 * then field, value pairs): 1 written, -1 the writer does not lead.
 */
const WRITE_ROUTES = `${WHILE_LEADING}
if ARGV[3] ~= '' then redis.call('HDEL', KEYS[1], ARGV[3]) end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end${NEW_VERSION}
return 1`;
/**
 * Adds ARGV[1] to the drained set KEYS[1] if one of ARGV[2..] other than it is not drained (an alive
 * node left to place regions on); returns 1 if it did.
 */
const DRAIN_UNLESS_LAST = `
for i = 2, #ARGV do
  if ARGV[i] ~= ARGV[1] and redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then
    redis.call('SADD', KEYS[1], ARGV[1])
    return 1
  end
end
return 0`;
/** Compare-and-set rounds an update gets before it gives up (each lost one means a newer route). */
const UPDATE_ATTEMPTS = 20;

/**
 * Cluster metadata in Redis (`<prefix>:meta:*`): registered nodes with their last heartbeat, and the
 * route of every region (range, leader, epoch, state). Every metasrv reads the same data; only the
 * leader writes routes.
 */
export class ClusterStore implements RouteStore, PeerLookup {
  /** Told of every route written (the metasrv watches the new leader of a moved region at once). */
  onRouteWritten: ((route: RegionRoute) => void) | undefined;
  /** The routes as of a version (see table()). */
  private cached: { version: string; table: RouteTable } | undefined;

  /**
   * @param writer the metasrv instance writing routes: each write checks in Redis that it still holds
   *   the leader key (unset: no check, for tools and tests that write routes with no metasrv running).
   */
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly nodeDeadAfterMs: number,
    private readonly now: () => number,
    private readonly writer?: string,
  ) {}

  /** Runs a route-writing script with the routes and leader keys; a -1 means this writer lost the lead. */
  private async writeRoutes(script: string, what: string, ...args: string[]): Promise<number> {
    const result = Number(
      await this.redis.eval(
        script,
        3,
        this.routesKey,
        metasrvLeaderKey(this.prefix),
        this.routesVersionKey,
        this.writer ?? '',
        randomUUID(),
        ...args,
      ),
    );
    if (result === -1) {
      throw new NotLeaderError(`metasrv ${this.writer} no longer leads: its write of ${what} is dropped`, {
        instance: this.writer ?? null,
      });
    }
    return result;
  }

  private get routesKey(): string {
    return clusterKey(this.prefix, 'meta', 'routes');
  }

  /** The token of the last route write (see NEW_VERSION); absent before the first. */
  private get routesVersionKey(): string {
    return clusterKey(this.prefix, 'meta', 'routes-version');
  }

  private get nodesKey(): string {
    return clusterKey(this.prefix, 'meta', 'nodes');
  }

  /** The nodes an operator is taking out (`drain`): nothing is placed on them, their regions move. */
  private get drainedKey(): string {
    return clusterKey(this.prefix, 'meta', 'drained');
  }

  /**
   * Drains the node unless none of `alive` but it would be left undrained; false then. One step in
   * Redis, so two drains at once cannot each count on the other node staying.
   */
  async drain(nodeId: string, alive: readonly string[]): Promise<boolean> {
    return Number(await this.redis.eval(DRAIN_UNLESS_LAST, 1, this.drainedKey, nodeId, ...alive)) === 1;
  }

  async undrain(nodeId: string): Promise<void> {
    await this.redis.srem(this.drainedKey, nodeId);
  }

  async recordHeartbeat(nodeId: string, node: StoredNode): Promise<void> {
    await this.redis.hset(this.nodesKey, nodeId, JSON.stringify(node));
  }

  async nodes(): Promise<Array<StoredNode & { id: string; alive: boolean; drained: boolean }>> {
    const [raw, drained] = await Promise.all([
      this.redis.hgetall(this.nodesKey),
      this.redis.smembers(this.drainedKey),
    ]);
    const now = this.now();
    return Object.entries(raw)
      .map(([id, json]) => ({ id, ...storedNodeSchema.parse(JSON.parse(json)) }))
      .map((n) => ({
        ...n,
        alive: now - n.lastHeartbeatMs < this.nodeDeadAfterMs,
        drained: drained.includes(n.id),
      }))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  async node(nodeId: string): Promise<Peer | undefined> {
    const raw = await this.redis.hget(this.nodesKey, nodeId);
    return raw ? { id: nodeId, address: storedNodeSchema.parse(JSON.parse(raw)).address } : undefined;
  }

  /** Alive nodes with the number of regions they lead, for the selector. */
  async candidates(): Promise<NodeCandidate[]> {
    const table = await this.table();
    return (await this.nodes()).map((n) => ({
      id: n.id,
      address: n.address,
      alive: n.alive,
      regionCount: table.leaderCount(n.id),
      drained: n.drained,
    }));
  }

  async get(regionId: RegionId): Promise<RegionRoute | undefined> {
    const raw = await this.redis.hget(this.routesKey, regionId.toString());
    return raw ? this.decode(regionId.toString(), raw) : undefined;
  }

  /** A new leader is no follower of its own region any more. */
  async put(route: RegionRoute): Promise<void> {
    const followers = (route.followers ?? []).filter((f) => f !== route.leader);
    const stored = { ...route, followers };
    const id = route.regionId.toString();
    await this.writeRoutes(WRITE_ROUTES, `the route of region ${id}`, '', id, this.encode(stored));
    this.onRouteWritten?.(stored);
  }

  private get regionSeqKey(): string {
    return clusterKey(this.prefix, 'meta', 'region-seq');
  }

  /**
   * A region number no region of the table had (PD allocates ids the same way): the counter starts
   * past every routed region's number and only grows, so an id a failed split took is never reused.
   */
  async allocateRegionId(tableId: number): Promise<RegionId> {
    if (!(await this.redis.exists(this.regionSeqKey))) {
      const highest = Math.max(0, ...(await this.routes()).map((r) => r.regionId.regionNumber));
      await this.redis.set(this.regionSeqKey, String(highest), 'NX');
    }
    return new RegionId(tableId, await this.redis.incr(this.regionSeqKey));
  }

  /** The parent's new route and its child's, in one HSET: nobody reads one without the other. */
  async putSplit(parent: RegionRoute, child: RegionRoute): Promise<void> {
    const [parentId, childId] = [parent.regionId.toString(), child.regionId.toString()];
    await this.writeRoutes(
      WRITE_ROUTES,
      `the split of region ${parentId}`,
      '',
      parentId,
      this.encode(parent),
      childId,
      this.encode(child),
    );
    this.onRouteWritten?.(parent);
    this.onRouteWritten?.(child);
  }

  /** The merged target's route and the source's removal, in one MULTI. */
  async putMerge(target: RegionRoute, source: RegionId): Promise<void> {
    const targetId = target.regionId.toString();
    await this.writeRoutes(
      WRITE_ROUTES,
      `the merge of region ${source.toString()} into ${targetId}`,
      source.toString(),
      targetId,
      this.encode(target),
    );
    this.onRouteWritten?.(target);
  }

  /**
   * Applies `change` to the route as it is when written: a compare-and-set on the stored route, read
   * again when another writer (a split's `putSplit`, a procedure) got there first, so no concurrent
   * change is lost. False, with nothing written, when the route is gone or (given `ifEpochVersion`)
   * its range changed since the caller read it.
   */
  async update(regionId: RegionId, change: RouteChange, ifEpochVersion?: number): Promise<boolean> {
    const id = regionId.toString();
    for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
      const raw = await this.redis.hget(this.routesKey, id);
      if (!raw) return false;
      const current = this.decode(id, raw);
      if (ifEpochVersion !== undefined && current.epoch.version !== ifEpochVersion) return false;
      const patch = typeof change === 'function' ? change(current) : change;
      if (!patch) return false;
      const next = { ...current, ...patch };
      const stored = { ...next, followers: (next.followers ?? []).filter((f) => f !== next.leader) };
      const written = await this.writeRoutes(
        SET_IF_UNCHANGED,
        `the route of region ${id}`,
        id,
        raw,
        this.encode(stored),
      );
      if (written === 1) {
        this.onRouteWritten?.(stored);
        return true;
      }
      // Someone else wrote it first: back off a little, at random, so contenders do not collide again
      await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
    }
    throw new ServerIsBusyError(`the route of region ${id} kept changing; try again`, { regionId: id });
  }

  /** Every route, sorted by range start. */
  async routes(): Promise<RegionRoute[]> {
    return [...(await this.table()).routes];
  }

  /**
   * The routes as Redis holds them now: one GET of the version while no route changed, every route
   * read again (with its version, in one MULTI) when one did. Routes written before versions existed
   * are read whole each time, until the first route write.
   */
  async table(): Promise<RouteTable> {
    const version = await this.redis.get(this.routesVersionKey);
    if (version !== null && this.cached?.version === version) return this.cached.table;
    const replies = await this.redis.multi().get(this.routesVersionKey).hgetall(this.routesKey).exec();
    const [[versionErr, read], [routesErr, raw]] = replies as [
      [Error | null, string | null],
      [Error | null, Record<string, string>],
    ];
    if (versionErr || routesErr) throw versionErr ?? routesErr;
    const table = new RouteTable(Object.entries(raw).map(([id, json]) => this.decode(id, json)));
    this.cached = read === null ? undefined : { version: read, table };
    return table;
  }

  /** Routes as clients get them, with each leader's address. */
  async clientRoutes(): Promise<Route[]> {
    const nodes = new Map((await this.nodes()).map((n) => [n.id, n.address]));
    return (await this.routes()).map((r) => ({
      regionId: r.regionId,
      start: r.range.start,
      end: r.range.end,
      epoch: r.epoch,
      leader: r.leader,
      address: nodes.get(r.leader) ?? '',
      state: r.state,
      followers: (r.followers ?? [])
        .filter((id) => nodes.has(id))
        .map((id) => ({ id, address: nodes.get(id)! })),
    }));
  }

  async routeForKey(key: Buffer): Promise<RegionRoute | undefined> {
    return (await this.table()).forKey(key);
  }

  private encode(route: RegionRoute): string {
    return JSON.stringify({
      start: route.range.start.toString('base64'),
      end: route.range.end.toString('base64'),
      leader: route.leader,
      epoch: route.epoch,
      state: route.state,
      followers: route.followers ?? [],
    });
  }

  private decode(id: string, json: string): RegionRoute {
    const stored = storedRouteSchema.parse(JSON.parse(json));
    return {
      regionId: RegionId.parse(id),
      range: { start: Buffer.from(stored.start, 'base64'), end: Buffer.from(stored.end, 'base64') },
      leader: stored.leader,
      epoch: stored.epoch,
      state: stored.state,
      followers: stored.followers,
    };
  }
}
