import { join } from 'node:path';
import { collect, useTempDir } from '@regionstore/testing';
import { RocksEngine, type KvEngine, type RocksEngineOptions } from '@regionstore/engine';

/** Opens engines in a per-file temp dir and closes them after each test. */
export function useEngines(label: string) {
  const dir = useTempDir(label);
  const open: KvEngine[] = [];
  afterEach(async () => {
    for (const engine of open.splice(0)) await engine.close();
  });
  return {
    async open(options: Partial<RocksEngineOptions> = {}): Promise<RocksEngine> {
      const engine = await RocksEngine.open({ path: join(dir.sub('db')), ...options });
      open.push(engine);
      return engine;
    },
  };
}

export { collect };

export const b = (text: string): Buffer => Buffer.from(text);

export async function keysOf(engine: KvEngine, cf: Parameters<KvEngine['iterate']>[0]): Promise<string[]> {
  return (await collect(engine.iterate(cf))).map((e) => e.key.toString());
}
