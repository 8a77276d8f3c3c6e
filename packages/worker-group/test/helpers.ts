import { join } from 'node:path';
import {
  RegionId,
  clearFailPoints,
  configureFailPoint,
  failPointHits,
  keyRange,
  type TimeProvider,
} from '@regionstore/core';
import { silentLogger, type Registry } from '@regionstore/runtime';
import { RocksEngine, type KvEngine } from '@regionstore/engine';
import { RedisLogStore } from '@regionstore/log-store';
import { RegionRunner } from '@regionstore/region-runner';
import { LocalStorage, type ExternalStorage } from '@regionstore/storage-backends';
import { useRedisNamespace, useTempDir } from '@regionstore/testing';
import { WorkerGroup, type WorkerGroupConfigInput } from '@regionstore/worker-group';

export const b = (text: string): Buffer => Buffer.from(text);

export interface TestNode {
  nodeId: string;
  engine: KvEngine;
  runner: RegionRunner;
  group: WorkerGroup;
  /** Stops the group and runner and closes the engine (a clean shutdown). */
  shutdown(): Promise<void>;
  /** Drops the node's in-memory state without flushing anything (a crash), then closes the engine. */
  crash(): Promise<void>;
}

/** Real RocksDB, a real local object store shared by the file's nodes, and the WAL on real Redis. */
export function useCluster(label: string) {
  const dir = useTempDir(label);
  const ns = useRedisNamespace(label);
  const storage = new LocalStorage(join(dir.path, 'objects'));
  const nodes: TestNode[] = [];
  afterEach(async () => {
    for (const node of nodes.splice(0)) await node.shutdown().catch(() => undefined);
  });
  let counter = 0;
  return {
    storage,
    ns,
    async wal(): Promise<RedisLogStore> {
      return new RedisLogStore(await ns.connect('client'), { prefix: ns.prefix });
    },
    async node(
      options: {
        config?: WorkerGroupConfigInput;
        time?: TimeProvider;
        nodeId?: string;
        metrics?: Registry;
        /** The WAL's class: a subclass of the Redis one that changes what a test needs. */
        walClass?: typeof RedisLogStore;
      } = {},
    ): Promise<TestNode> {
      const nodeId = options.nodeId ?? `node-${++counter}`;
      const engine = await RocksEngine.open({ path: dir.sub(`${nodeId}-db`) });
      const runner = new RegionRunner({ engine, storage, ...(options.time ? { time: options.time } : {}) });
      runner.start();
      let group: WorkerGroup;
      const wal = new (options.walClass ?? RedisLogStore)(await ns.connect('client'), { prefix: ns.prefix });
      try {
        group = WorkerGroup.start({
          nodeId,
          engine,
          wal,
          storage,
          runner,
          config: { numWorkers: 2, ...options.config },
          logger: silentLogger(),
          random: () => 0,
          ...(options.time ? { time: options.time } : {}),
          ...(options.metrics ? { metrics: options.metrics } : {}),
        });
      } catch (err) {
        await runner.stop();
        await engine.close();
        throw err;
      }
      let closed = false;
      const close = async (graceful: boolean) => {
        if (closed) return;
        closed = true;
        clearFailPoints(); // a paused fail point would hold a flush, and so the shutdown
        if (graceful) {
          await group.stop();
          await runner.stop();
        } else {
          void group.stop().catch(() => undefined);
          void runner.stop().catch(() => undefined);
        }
        await wal.close();
        await engine.close();
      };
      const node: TestNode = {
        nodeId,
        engine,
        runner,
        group,
        shutdown: () => close(true),
        crash: () => close(false),
      };
      nodes.push(node);
      return node;
    },
    /** A fresh node where `region` opens as leader over the whole key space at placement `confVer`. */
    async leaderAt(region: RegionId, confVer: number): Promise<TestNode> {
      const node = await this.node();
      await node.group.ddl(region, {
        type: 'open',
        range: ALL,
        epoch: { version: 1, confVer },
        role: 'Leader',
      });
      return node;
    },
  };
}

let nextRegion = 1;
export function freshRegion(): RegionId {
  return new RegionId(1, nextRegion++);
}

export const ALL = keyRange(Buffer.alloc(0), Buffer.alloc(0));
export const EPOCH = { version: 1, confVer: 1 };

export function put(key: string, value: string) {
  return { op: 'put' as const, key: b(key), value: b(value) };
}

/** The error `promise` fails with; throws if it succeeds. */
export async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

/** The names of the objects under `prefix`. */
export async function objectNames(storage: ExternalStorage, prefix: string): Promise<string[]> {
  const names: string[] = [];
  for await (const object of storage.list(prefix)) names.push(object.name);
  return names;
}

/**
 * Asks `node` for a full flush of `region` that stops before its snapshot is generated, until the
 * `before_region_gen_snap` fail point is removed; resolves once it stopped there.
 */
export async function pausedFullFlush(
  node: TestNode,
  region: RegionId,
): Promise<{ flush: Promise<unknown> }> {
  const hits = failPointHits('before_region_gen_snap');
  configureFailPoint('before_region_gen_snap', '1*pause');
  const flush = node.group.ddl(region, { type: 'flush', full: true });
  let ended: unknown;
  flush.then(
    () => (ended = 'it succeeded'),
    (err: unknown) => (ended = err),
  );
  while (failPointHits('before_region_gen_snap') === hits) {
    if (ended) throw new Error(`the flush ended before it paused: ${String(ended)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return { flush };
}

/** Polls `check` every 10 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
