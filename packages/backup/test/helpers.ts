import { join } from 'node:path';
import {
  ManualTimeProvider,
  RegionId,
  TimestampAllocator,
  composeTimestamp,
  keyRange,
  type TimeProvider,
} from '@regionstore/core';
import {
  ConcurrencyManager,
  RocksEngine,
  WriteBatch,
  writeVersion,
  type KvEngine,
} from '@regionstore/engine';
import { backupRequestSchema, type BackupRequestWire } from '@regionstore/protocol';
import { useTempDir } from '@regionstore/testing';
import {
  BackupEndpoint,
  BackupTask,
  StaticRegionInfoProvider,
  type BackupConfigInput,
  type BackupResponse,
  type RegionInfo,
} from '@regionstore/backup';

export const b = (text: string): Buffer => Buffer.from(text);
export const ts = (n: number) => composeTimestamp(1_000_000, n);

export function leaderRegions(spec: Array<[string, string, number]>): RegionInfo[] {
  return spec.map(([start, end, id]) => ({
    regionId: new RegionId(1, id),
    range: keyRange(b(start), b(end)),
    epochVersion: 1,
    role: 'Leader' as const,
  }));
}

/** An endpoint over a real RocksDB in a per-file temp dir; engines close after each test. */
export function useEndpoints(label: string) {
  const dir = useTempDir(label);
  const engines: KvEngine[] = [];
  afterEach(async () => {
    for (const engine of engines.splice(0)) await engine.close();
  });
  return {
    dir,
    async engine(): Promise<RocksEngine> {
      const engine = await RocksEngine.open({ path: dir.sub('db') });
      engines.push(engine);
      return engine;
    },
    async endpoint(options: { config?: BackupConfigInput; time?: TimeProvider } = {}) {
      const engine = await this.engine();
      const regionInfo = new StaticRegionInfoProvider();
      const concurrency = new ConcurrencyManager(new TimestampAllocator(new ManualTimeProvider(1_000_000)));
      const endpoint = new BackupEndpoint({
        storeId: '1',
        engine,
        regionInfo,
        concurrency,
        config: { numThreads: 4, batchSize: 8, ...options.config },
        ...(options.time ? { time: options.time } : {}),
      });
      return { engine, regionInfo, concurrency, endpoint };
    },
    /** A local storage URL of its own. */
    storageUrl(): string {
      return `local://${join(dir.sub('backup'))}`;
    },
  };
}

export function request(fields: Partial<BackupRequestWire> & { storage: string }) {
  return backupRequestSchema.parse({ endVersion: '1', ...fields });
}

export async function runTask(endpoint: BackupEndpoint, task: BackupTask): Promise<BackupResponse[]> {
  endpoint.run(task);
  const out: BackupResponse[] = [];
  for await (const response of task.responses()) out.push(response);
  return out;
}

export async function writeVersions(engine: KvEngine, versions: Array<[string, number, string | undefined]>) {
  const batch = new WriteBatch();
  for (const [key, at, value] of versions)
    writeVersion(batch, { key: b(key), ts: ts(at), value: value === undefined ? undefined : b(value) });
  await engine.write(batch);
}
