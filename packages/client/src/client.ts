import {
  CancelledError,
  TimeoutError,
  compareKeys,
  findByKey,
  formatRange,
  groupBy,
  intersectRanges,
  isValidRange,
  keyRange,
  rangeHoldsEnd,
  RegionNotFoundError,
  type KeyRange,
  type Timestamp,
} from '@regionstore/core';
import {
  batchGetResponseSchema,
  errorFromResponse,
  getResponseSchema,
  MSGPACK_CONTENT_TYPE,
  jsonWire,
  mutationCodec,
  packWire,
  routesResponseSchema,
  scanResponseSchema,
  writeResponseSchema,
  unpackWire,
  gcStatusSchema,
  type DataCommandType,
  type GcStatusBody,
  type Route,
} from '@regionstore/protocol';
import { CommandBatcher } from './command-batcher';
import { adminRetryable, isNetworkError, nextCopyCures, retryable } from './retry-rules';
import { WriteAttempt } from './write-attempt';
import { Agent, request as httpRequest, type Dispatcher } from 'undici';
import { z } from 'zod';

export type Mutation = z.output<typeof mutationCodec>;

/** A key or value: bytes, or a string (sent as its UTF-8 bytes). Reads always answer Buffers. */
export type Bytes = Buffer | Uint8Array | string;

/** A mutation whose key and value may be strings. */
export type MutationInput = { op: 'put'; key: Bytes; value: Bytes } | { op: 'delete'; key: Bytes };

const toBuffer = (bytes: Bytes): Buffer =>
  typeof bytes === 'string'
    ? Buffer.from(bytes, 'utf8')
    : Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes);

function toMutation(m: MutationInput): Mutation {
  return m.op === 'put'
    ? { op: 'put', key: toBuffer(m.key), value: toBuffer(m.value) }
    : { op: 'delete', key: toBuffer(m.key) };
}

export interface ClientOptions {
  /** The metasrv's base URL, e.g. http://127.0.0.1:7700. */
  metasrv: string;
  /** How long an operation keeps retrying through failovers and route changes. */
  retryTimeoutMs?: number;
  /**
   * Bearer token for the storage nodes' data API (their `apiToken`) and the metasrv's admin API (its
   * `adminToken`), for a cluster that shares one secret.
   */
  token?: string;
  /** Extra headers for the metasrv; an `authorization` here wins over `token` (a separate admin token). */
  headers?: Record<string, string>;
  /**
   * Body format for the storage nodes: `msgpack` (default; raw bytes, far less codec work) or `json`
   * (base64 bytes; what you would type with curl).
   */
  wire?: 'msgpack' | 'json';
  /** How long one HTTP request may take before it is abandoned (and, for data calls, retried). */
  requestTimeoutMs?: number;
  /** Cancels every request of this client in flight and every retry still to come. */
  signal?: AbortSignal;
  /**
   * Coalesce the data calls made to one node within one tick into one request (default true; msgpack
   * wire only). Each call keeps its own answer, error and retries.
   */
  batchCommands?: boolean;
}

/**
 * Which copy of a region answers a read: its leader (default; linearizable, by the leader's lease) or
 * one of its followers, at a ts that follower has fully applied (its safe ts, or `ts` if given):
 * consistent at that ts, but it may miss writes acknowledged a moment ago. A follower that has not
 * applied that far answers DataIsNotReady, and the read goes to the leader instead.
 */
export type ReadFrom = 'leader' | 'follower';

export interface ReadOptions {
  /** Read as of this ts; default: latest (with `readFrom: 'follower'`, the follower's safe ts). */
  ts?: Timestamp;
  readFrom?: ReadFrom;
}

export interface ScanOptions extends ReadOptions {
  start?: Bytes;
  end?: Bytes;
  limit?: number;
  reverse?: boolean;
  /** Pairs per request (at most 10,000). */
  pageSize?: number;
}

/** The most a node returns for one scan request. */
const MAX_SCAN_PAGE = 10_000;

/** A read's region and the copies to ask, in order. */
interface ReadPlan {
  regionId: string;
  targets: ReadTarget[];
}

function withLeader(route: Route | undefined, what: string): Route & { address: string } {
  if (!route?.address) throw new RegionNotFoundError(`no region with a live leader holds ${what}`);
  return { ...route, address: route.address };
}

/** The smallest key after `key`. */
const keyAfter = (key: Buffer): Buffer => Buffer.concat([key, Buffer.from([0])]);

/** What is left of a scan of `asked` once a region's share of it, `scanned`, is done. */
function beyond(asked: KeyRange, scanned: KeyRange | undefined, reverse: boolean): KeyRange | undefined {
  if (!scanned) return undefined;
  if (reverse) return scanned.start.length === 0 ? undefined : keyRange(asked.start, scanned.start);
  return scanned.end.length === 0 ? undefined : keyRange(scanned.end, asked.end);
}

/**
 * What a group of `perRegion` carries through its retries: a write's attempt state; nothing for reads.
 * A group that a split or merge spreads over several regions goes on as parts of it.
 */
interface GroupPart {
  part(index: number): GroupPart;
  shouldRetry(err: unknown): boolean;
}

const READ_PART: GroupPart = { part: () => READ_PART, shouldRetry: retryable };

/**
 * A part of a group failed (each part was retried on its own): the group is not sent again as a whole,
 * which would spread it anew and could give a part's id to other keys.
 */
class PartFailure {
  private constructor(readonly reason: unknown) {}

  static of(reason: unknown): PartFailure {
    return reason instanceof PartFailure ? reason : new PartFailure(reason);
  }
}

/** A copy of a region to read from, and whether it is asked for a replica read. */
interface ReadTarget {
  address: string;
  replicaRead: boolean;
}

/**
 * A RegionStore client: fetches the route table from the metasrv, sends each key to the leader of its
 * region with the epoch it routed by, and on a route error refreshes the routes and retries until
 * `retryTimeoutMs` (so a failover shows up as latency, not as an error).
 */
export class RegionStoreClient {
  private routeCache: Route[] = [];
  private readonly retryTimeoutMs: number;

  private readonly wire: 'msgpack' | 'json';

  /** Sent to the storage nodes. */
  private readonly nodeHeaders: Record<string, string>;
  /** Sent to the metasrv. */
  private readonly metasrvHeaders: Record<string, string>;

  /**
   * Keep-alive connections to the metasrv and every node, shared by this client's requests. undici's
   * `request`, not `fetch`: fetch's web streams cost more CPU per call than the node spends serving it.
   */
  private readonly agent: Agent;
  private readonly requestTimeoutMs: number;
  private readonly batcher: CommandBatcher | undefined;
  /** Follower reads take a region's followers in turn, spreading the load over them. */
  private followerTurn = 0;

  constructor(private readonly options: ClientOptions) {
    this.retryTimeoutMs = options.retryTimeoutMs ?? 30_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.agent = new Agent({ keepAliveTimeout: 10_000, connections: 128 });
    this.wire = options.wire ?? 'msgpack';
    this.nodeHeaders = options.token ? { authorization: `Bearer ${options.token}` } : {};
    this.metasrvHeaders = { ...this.nodeHeaders, ...options.headers };
    this.batcher =
      this.wire === 'msgpack' && options.batchCommands !== false
        ? new CommandBatcher((address, commands) => this.call(`${address}/v1/batch`, { commands }))
        : undefined;
  }

  async routes(refresh = false): Promise<Route[]> {
    if (refresh || this.routeCache.length === 0) {
      const body = await this.request(`${this.options.metasrv}/v1/routes`, undefined, this.metasrvHeaders);
      this.routeCache = routesResponseSchema.parse(body).routes.sort((a, b) => compareKeys(a.start, b.start));
    }
    return this.routeCache;
  }

  private async request(url: string, body?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
    return this.send(url, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  /** One HTTP exchange: the answer's body decoded, or the typed error it carries. */
  private async send(
    url: string,
    options: Pick<Dispatcher.RequestOptions, 'method' | 'headers' | 'body'>,
  ): Promise<unknown> {
    const signal = this.options.signal
      ? AbortSignal.any([this.options.signal, AbortSignal.timeout(this.requestTimeoutMs)])
      : AbortSignal.timeout(this.requestTimeoutMs);
    const response = await httpRequest(url, { ...options, dispatcher: this.agent, signal }).catch(
      (err: unknown) => {
        if (this.options.signal?.aborted) {
          throw new CancelledError(`request to ${url} cancelled`, {}, { cause: err });
        }
        // A timeout is the connection's failure, retried like one (the node may be gone).
        if (signal.aborted) {
          throw Object.assign(new Error(`no answer from ${url} within ${this.requestTimeoutMs} ms`), {
            code: 'UND_ERR_REQUEST_TIMEOUT',
          });
        }
        // Name the server: "connect ECONNREFUSED" alone does not say which one.
        if (isNetworkError(err)) {
          throw Object.assign(new Error(`cannot reach ${new URL(url).origin}: ${(err as Error).message}`), {
            code: (err as { code: string }).code,
            cause: err,
          });
        }
        throw err;
      },
    );
    const parsed: unknown =
      response.headers['content-type'] === MSGPACK_CONTENT_TYPE
        ? unpackWire(new Uint8Array(await response.body.arrayBuffer()))
        : await response.body.json().catch(() => ({}));
    if (response.statusCode >= 400) throw errorFromResponse(response.statusCode, parsed);
    return parsed;
  }

  /** A data API call to a storage node; `body` holds keys and values as Buffers. */
  private async call(url: string, body: Record<string, unknown>): Promise<unknown> {
    if (this.wire === 'json') return this.request(url, jsonWire(body), this.nodeHeaders);
    return this.send(url, {
      method: 'POST',
      headers: { 'content-type': MSGPACK_CONTENT_TYPE, accept: MSGPACK_CONTENT_TYPE, ...this.nodeHeaders },
      body: packWire(body),
    });
  }

  /**
   * A write, get or batch get to the node at `address`: in the next batch to that node, or alone.
   * `bytes` (of keys and values) keeps batches small enough for the node's body limit.
   */
  private command(
    address: string,
    type: DataCommandType,
    body: Record<string, unknown>,
    bytes: number,
  ): Promise<unknown> {
    if (this.batcher) return this.batcher.call(address, { type, ...body }, bytes);
    return this.call(`${address}/v1/${type}`, body);
  }

  /** Closes this client's connections; requests after it fail. */
  async close(): Promise<void> {
    await this.agent.close();
  }

  /** The route whose range holds `key` (routes sorted by start, as `routes` keeps them). */
  private routeOf(routes: Route[], key: Buffer): Route | undefined {
    return findByKey(routes, key, (route) => route);
  }

  /**
   * Runs `op` until it succeeds, fails with an error `shouldRetry` rejects, or `retryTimeoutMs` has
   * passed (then `Timeout`); `op` learns whether it is a retry.
   */
  private async retrying<T>(
    op: (retry: boolean) => Promise<T>,
    shouldRetry: (err: unknown) => boolean,
  ): Promise<T> {
    const deadline = Date.now() + this.retryTimeoutMs;
    let delay = 50;
    let retry = false;
    for (;;) {
      try {
        return await op(retry);
      } catch (err) {
        if (!shouldRetry(err) || this.options.signal?.aborted) throw err;
        if (Date.now() > deadline) {
          throw new TimeoutError(
            `gave up after ${this.retryTimeoutMs} ms: ${(err as Error).message}`,
            {},
            { cause: err },
          );
        }
        retry = true;
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(1000, delay * 2);
      }
    }
  }

  /**
   * Runs `run` once per region over `items`, grouped by the region each one's key falls in, each group
   * retried on route errors. A group that refreshed routes spread over several regions (a split, a
   * merge moved a boundary through it) is grouped again, so no retry keeps sending keys to a region
   * that no longer holds them.
   */
  private async perRegion<T, R, P extends GroupPart = GroupPart>(
    items: T[],
    keyOf: (item: T) => Buffer,
    run: (routes: Route[], group: T[], part: P) => Promise<R>,
    root: P = READ_PART as P,
  ): Promise<R[]> {
    const groupsOf = (routes: Route[], of: T[]) => [
      // By route object (undefined: no region holds the key): no region-id string per key.
      ...groupBy(of, (item) => this.routeOf(routes, keyOf(item))).values(),
    ];
    const initial = await this.routes();
    const runGroup = (group: T[], part: P): Promise<R[]> =>
      this.withRetry(
        async (current) => {
          // Routes refreshed since the group was formed: it may span regions now. From then on it
          // goes as those parts, never again as a whole, so a part's id always names the same keys.
          if (current !== initial) {
            const groups = groupsOf(current, group);
            if (groups.length > 1) {
              const settled = await Promise.allSettled(groups.map((g, i) => runGroup(g, part.part(i) as P)));
              const failed = settled.find((s) => s.status === 'rejected');
              if (failed) throw PartFailure.of(failed.reason);
              return settled.flatMap((s) => (s.status === 'fulfilled' ? s.value : []));
            }
          }
          return [await run(current, group, part)];
        },
        (err) => !(err instanceof PartFailure) && part.shouldRetry(err),
      );
    try {
      return (
        await Promise.all(groupsOf(initial, items).map((g, i) => runGroup(g, root.part(i) as P)))
      ).flat();
    } catch (err) {
      throw err instanceof PartFailure ? err.reason : err;
    }
  }

  /** Runs `op` with current routes; on a route error refreshes them and tries again. */
  private withRetry<T>(
    op: (routes: Route[]) => Promise<T>,
    shouldRetry: (err: unknown) => boolean = retryable,
  ): Promise<T> {
    return this.retrying(async (refresh) => op(await this.routes(refresh)), shouldRetry);
  }

  /**
   * A metasrv admin API call: GET `path`, or POST `body` to it. Retried while the metasrv answers
   * `NotLeader` or `ServerIsBusy`, which it does before doing anything: its lease is changing hands
   * (after a Redis outage it takes the lease back within a few seconds).
   */
  async admin(path: string, body?: unknown): Promise<unknown> {
    return this.retrying(
      () => this.request(`${this.options.metasrv}${path}`, body, this.metasrvHeaders),
      adminRetryable,
    );
  }

  private leaderOf(routes: Route[], key: Buffer): Route & { address: string } {
    return withLeader(this.routeOf(routes, key), `key ${key.toString('base64')}`);
  }

  /**
   * Where a read of `key` goes, in order: the leader; or, for a follower read, one follower and then
   * the leader (two tries, so a lagging follower costs one round trip, not the retry timeout).
   */
  private readTargets(routes: Route[], key: Buffer, readFrom: ReadFrom | undefined): ReadPlan {
    return this.targetsOf(this.routeOf(routes, key), `key ${key.toString('base64')}`, readFrom);
  }

  /** The same for the region `route` names (`what` is what it was looked up by). */
  private targetsOf(route: Route | undefined, what: string, readFrom: ReadFrom | undefined): ReadPlan {
    if (readFrom !== 'follower') {
      const leader = withLeader(route, what);
      return {
        regionId: leader.regionId.toString(),
        targets: [{ address: leader.address, replicaRead: false }],
      };
    }
    const targets: ReadTarget[] = [];
    const followers = route?.followers ?? [];
    if (followers.length > 0) {
      const follower = followers[this.followerTurn++ % followers.length]!;
      targets.push({ address: follower.address, replicaRead: true });
    }
    // Without a live leader a follower may still answer: that is when follower reads help most.
    if (route?.address) targets.push({ address: route.address, replicaRead: true });
    if (!route || targets.length === 0)
      throw new RegionNotFoundError(`no region with a live copy holds ${what}`);
    return { regionId: route.regionId.toString(), targets };
  }

  /** Sends a read to each target in turn until one answers, or one fails in a way the next cannot cure. */
  private async readFrom<T>(
    plan: ReadPlan,
    send: (regionId: string, target: ReadTarget) => Promise<T>,
  ): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await send(plan.regionId, plan.targets[i]!);
      } catch (err) {
        if (i === plan.targets.length - 1 || !nextCopyCures(err)) throw err;
      }
    }
  }

  async put(key: Bytes, value: Bytes): Promise<{ commitTs: Timestamp }> {
    return this.write([{ op: 'put', key, value }]);
  }

  async delete(key: Bytes): Promise<{ commitTs: Timestamp }> {
    return this.write([{ op: 'delete', key }]);
  }

  /**
   * Writes mutations; those of one region are applied atomically (one commit ts). Mutations of
   * several regions are sent per region, and the largest commit ts is returned. Each region applies
   * them once, however often they are sent (see WriteAttempt).
   */
  async write(input: MutationInput[]): Promise<{ commitTs: Timestamp }> {
    const mutations = input.map(toMutation);
    const results = await this.perRegion(
      mutations,
      (m) => m.key,
      async (current, group, attempt) => {
        const route = this.leaderOf(current, group[0]!.key);
        const body = {
          regionId: route.regionId.toString(),
          epoch: route.epoch,
          mutations: group,
          ...attempt.body(),
        };
        const bytes = group.reduce((n, m) => n + m.key.length + (m.op === 'put' ? m.value.length : 0), 0);
        try {
          return writeResponseSchema.parse(await this.command(route.address, 'write', body, bytes));
        } catch (err) {
          attempt.failed(err);
          throw err;
        }
      },
      WriteAttempt.start(),
    );
    return { commitTs: results.reduce((max, r) => (r.commitTs > max ? r.commitTs : max), 0n) };
  }

  async get(input: Bytes, options: ReadOptions = {}): Promise<Buffer | undefined> {
    const key = toBuffer(input);
    return this.withRetry(async (routes) => {
      return this.readFrom(this.readTargets(routes, key, options.readFrom), async (regionId, target) => {
        const body = {
          regionId,
          key,
          ...(options.ts ? { ts: options.ts } : {}),
          ...(target.replicaRead ? { replicaRead: true } : {}),
        };
        const answer = await this.command(target.address, 'get', body, key.length);
        return getResponseSchema.parse(answer).value ?? undefined;
      });
    });
  }

  /**
   * Values of `keys`, per region in one request. With `readFrom: 'follower'` and no `ts`, each region
   * is read at its own follower's safe ts; pass `ts` to read every region at one point.
   */
  async batchGet(input: Bytes[], options: ReadOptions = {}): Promise<Array<Buffer | undefined>> {
    const keys = input.map(toBuffer);
    const out: Array<Buffer | undefined> = new Array(keys.length);
    await this.perRegion(
      keys.map((_, i) => i),
      (i) => keys[i]!,
      async (current, indexes) => {
        const first = keys[indexes[0]!]!;
        const regionKeys = indexes.map((i) => keys[i]!);
        const bytes = regionKeys.reduce((n, key) => n + key.length, 0);
        const { values } = await this.readFrom(
          this.readTargets(current, first, options.readFrom),
          async (regionId, target) => {
            const body = {
              regionId,
              keys: regionKeys,
              ...(options.ts ? { ts: options.ts } : {}),
              ...(target.replicaRead ? { replicaRead: true } : {}),
            };
            return batchGetResponseSchema.parse(await this.command(target.address, 'batch-get', body, bytes));
          },
        );
        indexes.forEach((i, at) => (out[i] = values[at] ?? undefined));
      },
    );
    return out;
  }

  /** Live pairs of `[start, end)` across regions, in key order (descending with `reverse`), at most `limit`. */
  async scan(options: ScanOptions = {}): Promise<Array<{ key: Buffer; value: Buffer }>> {
    const out: Array<{ key: Buffer; value: Buffer }> = [];
    for await (const entry of this.iterate(options)) out.push(entry);
    return out;
  }

  /**
   * The same pairs as an async iterator that fetches a page at a time (a region larger than one
   * response is paged through), so a caller can stop early or walk the whole key space. A follower
   * scan without `ts` reads every page at the ts the first one was served at: one snapshot throughout.
   */
  async *iterate(options: ScanOptions = {}): AsyncIterable<{ key: Buffer; value: Buffer }> {
    const reverse = options.reverse ?? false;
    let rest: KeyRange | undefined = keyRange(toBuffer(options.start ?? ''), toBuffer(options.end ?? ''));
    let remaining = options.limit ?? Infinity;
    let ts = options.ts;
    while (rest && isValidRange(rest) && remaining > 0) {
      const asked: KeyRange = rest;
      const want = Math.min(remaining, options.pageSize ?? MAX_SCAN_PAGE);
      const page = await this.withRetry(async (now) => {
        // The region the scan goes on in: it holds the first key left (reversed, the last). The node
        // refuses the scan if its routes have changed since (KeyNotInRange), and the routes are read again.
        const route = reverse
          ? now.find((r) => rangeHoldsEnd(keyRange(r.start, r.end), asked.end))
          : this.routeOf(now, asked.start);
        const plan = this.targetsOf(
          route,
          `the ${reverse ? 'end' : 'start'} of ${formatRange(asked)}`,
          options.readFrom,
        );
        // Asked no further than the route reaches: a region the routes name narrower than it is (a merge
        // since) is not asked for keys the scan would then ask of the next one again.
        const part = intersectRanges(keyRange(route!.start, route!.end), asked)!;
        const answer = await this.readFrom(plan, async (regionId, target) => {
          const body = {
            regionId,
            start: part.start,
            end: part.end,
            limit: want,
            reverse,
            ...(ts ? { ts } : {}),
            ...(target.replicaRead ? { replicaRead: true } : {}),
          };
          return scanResponseSchema.parse(await this.call(`${target.address}/v1/scan`, body));
        });
        // A node from before `scanned` answered for the part as the route has it.
        return { ...answer, scanned: answer.scanned ?? part };
      });
      ts ??= page.readTs;
      for (const entry of page.entries) yield entry;
      remaining -= page.entries.length;
      const last = page.entries.at(-1);
      if (last && page.entries.length === want)
        rest = reverse ? keyRange(asked.start, last.key) : keyRange(keyAfter(last.key), asked.end);
      else rest = beyond(asked, page.scanned, reverse);
    }
  }

  /** Cluster status from the metasrv (nodes, regions, maintenance). */
  async status(): Promise<unknown> {
    return this.admin('/admin/status');
  }

  /** The cluster GC safepoint (reads below it fail with TsTooOld) and the service safepoints. */
  async gcStatus(): Promise<GcStatusBody> {
    return gcStatusSchema.parse(await this.admin('/admin/gc'));
  }

  /** Backs the whole cluster up (the metasrv coordinates it); resolves with the backup record. */
  async backup(request: {
    storage: string;
    endVersion?: Timestamp;
    startVersion?: Timestamp;
    compressionType?: string;
  }): Promise<unknown> {
    // Without an endVersion the metasrv reads at its own clock (this one may run ahead of the nodes').
    const body = {
      ...request,
      ...(request.endVersion === undefined ? {} : { endVersion: request.endVersion.toString() }),
      ...(request.startVersion === undefined ? {} : { startVersion: request.startVersion.toString() }),
    };
    return this.admin('/admin/backup', body);
  }

  /**
   * Restores a backup (a storage URL holding a `backupmeta`) into the cluster. Refused
   * (`FailedPrecondition` in the record) where the cluster holds versions newer than the backup, which
   * would stay visible over it, unless `force`.
   */
  async restore(storage: string, options: { force?: boolean } = {}): Promise<unknown> {
    return this.admin('/admin/restore', { storage, ...(options.force ? { force: true } : {}) });
  }
}
