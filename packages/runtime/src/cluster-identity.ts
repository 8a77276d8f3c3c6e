import { randomUUID } from 'node:crypto';
import { ClusterIdMismatchError, CorruptFileError } from '@regionstore/core';
import { z } from 'zod';
import type { RedisClient } from './redis';

/**
 * A cluster's identity, minted once at bootstrap (as TiKV's cluster id and etcd's cluster id are) and
 * kept in three places: Redis, every node's engine, and the object store beside the manifests. Any two
 * that disagree, or data that belongs to a cluster Redis does not know, stop the process that sees it
 * before it serves or bootstraps anything.
 */
export const clusterRecordSchema = z.object({
  version: z.literal(1),
  clusterId: z.string().min(1).max(64),
  createdAtMs: z.number(),
});
export type ClusterRecord = z.output<typeof clusterRecordSchema>;

export function mintClusterRecord(now = Date.now()): ClusterRecord {
  return { version: 1, clusterId: randomUUID(), createdAtMs: now };
}

function parseRecord(raw: string, where: string): ClusterRecord {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new CorruptFileError(`the cluster record in ${where} is not JSON: ${(err as Error).message}`, {
      where,
    });
  }
  const parsed = clusterRecordSchema.safeParse(value);
  if (!parsed.success)
    throw new CorruptFileError(
      `the cluster record in ${where} is malformed: ${parsed.error.issues[0]?.message}`,
      { where },
    );
  return parsed.data;
}

/** The cluster record in Redis, under one cluster-wide key. */
export class RedisClusterRecord {
  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
    /** Where this Redis is, for messages (URL without credentials, and the key prefix). */
    readonly where: string,
  ) {}

  async read(): Promise<ClusterRecord | undefined> {
    const raw = await this.redis.get(this.key);
    return raw === null ? undefined : parseRecord(raw, this.where);
  }

  /** Stores `record` unless Redis already has one; returns the one Redis keeps. */
  async claim(record: ClusterRecord): Promise<ClusterRecord> {
    await this.redis.set(this.key, JSON.stringify(record), 'NX');
    const kept = await this.read();
    if (!kept) throw new CorruptFileError(`the cluster record in ${this.where} vanished as it was written`);
    return kept;
  }

  /** Writes `record` whatever Redis had: only a recovery does, after checking Redis had none. */
  async restore(record: ClusterRecord): Promise<void> {
    await this.redis.set(this.key, JSON.stringify(record));
  }
}

/** What the object-store record needs of an ExternalStorage (structurally: this layer cannot name it). */
export interface RecordObjects {
  exists(name: string): Promise<boolean>;
  read(name: string): Promise<AsyncIterable<unknown>>;
  write(name: string, data: AsyncIterable<Buffer>, options?: { size?: number }): Promise<unknown>;
  url(): string;
}

/** The cluster record in the object store: `cluster.json`, beside `manifests/`. */
export const CLUSTER_RECORD_OBJECT = 'cluster.json';

export async function readObjectStoreRecord(objects: RecordObjects): Promise<ClusterRecord | undefined> {
  if (!(await objects.exists(CLUSTER_RECORD_OBJECT))) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of await objects.read(CLUSTER_RECORD_OBJECT)) chunks.push(chunk as Buffer);
  return parseRecord(Buffer.concat(chunks).toString('utf8'), `${objects.url()}/${CLUSTER_RECORD_OBJECT}`);
}

export async function writeObjectStoreRecord(objects: RecordObjects, record: ClusterRecord): Promise<void> {
  const body = Buffer.from(JSON.stringify(record));
  async function* once() {
    yield body;
  }
  await objects.write(CLUSTER_RECORD_OBJECT, once(), { size: body.length });
}

function mismatch(
  a: { id: string; where: string },
  b: { id: string; where: string },
): ClusterIdMismatchError {
  return new ClusterIdMismatchError(
    `cluster ID mismatch: ${a.where} belongs to cluster ${a.id}, ${b.where} to cluster ${b.id}. ` +
      'Point the process at its own cluster (REDIS_URL, the key prefix, the data dir, the object store); nothing was changed.',
    { [a.where]: a.id, [b.where]: b.id },
  );
}

/** Fails if two of the records present name different clusters. */
export function checkSameCluster(records: Array<{ id: string | undefined; where: string }>): void {
  const present = records.filter((r): r is { id: string; where: string } => r.id !== undefined);
  for (const other of present.slice(1)) if (other.id !== present[0]!.id) throw mismatch(present[0]!, other);
}

/**
 * What a storage node does at start with the identities it sees:
 * - `bound`: its engine already belongs to the cluster Redis knows;
 * - `adopt`: its engine holds no cluster yet and Redis knows one (a new node joining; or an engine
 *   from before identities, whose regions are that cluster's);
 * - `unbound`: neither knows a cluster (a new node of a cluster not yet bootstrapped): it binds on its
 *   first region task.
 * It refuses (ClusterIdMismatch, nothing changed) when its engine, Redis or the object store disagree,
 * or when its engine belongs to a cluster, or holds regions, while Redis knows no cluster: that is a
 * Redis that lost its data, or the wrong Redis, and serving there would start a new, empty cluster over
 * the old one's data.
 */
export function nodeIdentityAction(facts: {
  engine: { id: string | undefined; where: string; regions: number };
  redis: { id: string | undefined; where: string };
  objectStore: { id: string | undefined; where: string };
}): 'bound' | 'adopt' | 'unbound' {
  const { engine, redis, objectStore } = facts;
  checkSameCluster([engine, redis, objectStore]);
  if (redis.id !== undefined) return engine.id === undefined ? 'adopt' : 'bound';
  if (engine.id !== undefined || engine.regions > 0) {
    const whose = engine.id === undefined ? 'an unknown cluster' : `cluster ${engine.id}`;
    throw new ClusterIdMismatchError(
      `${engine.where} belongs to ${whose} (${engine.regions} regions), but ${redis.where} knows no cluster: ` +
        'Redis lost its data, or this is not the cluster’s Redis (REDIS_URL, the key prefix). Nothing was changed. ' +
        'Point the node at the cluster’s Redis, or rebuild its metadata with `regionctl cluster recover` and start the node again.',
      {
        dataCluster: engine.id ?? null,
        regions: engine.regions,
        redis: redis.where,
        objectStoreCluster: objectStore.id ?? null,
      },
    );
  }
  return 'unbound';
}
