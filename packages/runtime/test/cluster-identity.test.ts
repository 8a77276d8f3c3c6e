import { isRegionStoreError } from '@regionstore/core';
import {
  RedisClusterRecord,
  createRedis,
  mintClusterRecord,
  nodeIdentityAction,
  readObjectStoreRecord,
  writeObjectStoreRecord,
} from '@regionstore/runtime';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const key = `{rs-test-identity-${process.pid}}:meta:cluster`;
const redis = createRedis(url, 'worker');
afterAll(async () => {
  await redis.del(key);
  redis.disconnect();
});

const facts = (engine: string | undefined, regions: number, redis: string | undefined, objects?: string) => ({
  engine: { id: engine, where: 'data dir /d', regions },
  redis: { id: redis, where: 'Redis r' },
  objectStore: { id: objects, where: 'object store o' },
});

function refusal(run: () => unknown): Error {
  try {
    run();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a refusal');
}

describe('a node’s cluster identity at start', () => {
  it('is bound when its engine and Redis name the same cluster', () => {
    expect(nodeIdentityAction(facts('A', 3, 'A', 'A'))).toBe('bound');
  });

  it('adopts the cluster Redis knows when its engine names none (a new node; an engine from before identities)', () => {
    expect(nodeIdentityAction(facts(undefined, 0, 'A'))).toBe('adopt');
    expect(nodeIdentityAction(facts(undefined, 5, 'A', 'A'))).toBe('adopt');
  });

  it('stays unbound while neither knows a cluster and it holds nothing', () => {
    expect(nodeIdentityAction(facts(undefined, 0, undefined))).toBe('unbound');
  });

  it('refuses another cluster’s Redis or object store, naming both ids', () => {
    const err = refusal(() => nodeIdentityAction(facts('A', 1, 'B')));
    expect(isRegionStoreError(err, 'ClusterIdMismatch')).toBe(true);
    expect(err.message).toMatch(
      /cluster ID mismatch: data dir \/d belongs to cluster A, Redis r to cluster B/,
    );
    expect(refusal(() => nodeIdentityAction(facts(undefined, 0, 'A', 'B'))).message).toMatch(
      /Redis r belongs to cluster A, object store o to cluster B/,
    );
  });

  it('refuses a Redis that knows no cluster when its engine belongs to one or holds regions', () => {
    const bound = refusal(() => nodeIdentityAction(facts('A', 0, undefined)));
    expect(isRegionStoreError(bound, 'ClusterIdMismatch')).toBe(true);
    expect(bound.message).toMatch(
      /data dir \/d belongs to cluster A \(0 regions\), but Redis r knows no cluster/,
    );
    expect(bound.message).toMatch(/regionctl cluster recover/);
    expect(refusal(() => nodeIdentityAction(facts(undefined, 2, undefined))).message).toMatch(
      /belongs to an unknown cluster \(2 regions\)/,
    );
  });
});

describe('cluster records', () => {
  it('in Redis: the first claim wins, a later one gets it back', async () => {
    const record = new RedisClusterRecord(redis, key, 'Redis test');
    expect(await record.read()).toBeUndefined();
    const first = mintClusterRecord();
    expect(await record.claim(first)).toEqual(first);
    expect(await record.claim(mintClusterRecord())).toEqual(first);
  });

  it('in the object store: written and read back as cluster.json; a malformed one is CorruptFile', async () => {
    const files = new Map<string, Buffer>();
    const objects = {
      exists: async (name: string) => files.has(name),
      read: async (name: string) =>
        (async function* () {
          yield files.get(name)!;
        })(),
      write: async (name: string, data: AsyncIterable<Buffer>) => {
        const chunks: Buffer[] = [];
        for await (const chunk of data) chunks.push(chunk);
        files.set(name, Buffer.concat(chunks));
      },
      url: () => 'memory://',
    };
    expect(await readObjectStoreRecord(objects)).toBeUndefined();
    const record = mintClusterRecord();
    await writeObjectStoreRecord(objects, record);
    expect(await readObjectStoreRecord(objects)).toEqual(record);
    await objects.write(
      'cluster.json',
      (async function* () {
        yield Buffer.from('{"version":1}');
      })(),
    );
    await expect(readObjectStoreRecord(objects)).rejects.toMatchObject({ code: 'CorruptFile' });
  });
});
