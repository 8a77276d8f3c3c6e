import { CorruptFileError } from '@regionstore/core';
import { z } from 'zod';
import { CF_RAFT } from './cf';
import { STORE_IDENT_KEY } from './data-key';
import type { KvEngine, KvReader } from './kv-engine';

const storeIdentSchema = z.object({
  clusterId: z.string().min(1),
  nodeId: z.string().min(1),
  boundAtMs: z.number(),
});

/**
 * Which cluster an engine's data belongs to, and as which node (TiKV's StoreIdent). Kept in the engine
 * itself, so it can never be separated from the data it vouches for.
 */
export type StoreIdent = z.output<typeof storeIdentSchema>;

export async function readStoreIdent(reader: KvReader): Promise<StoreIdent | undefined> {
  const raw = await reader.get(CF_RAFT, STORE_IDENT_KEY);
  if (!raw) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new CorruptFileError(`the store ident is not JSON: ${(err as Error).message}`);
  }
  const parsed = storeIdentSchema.safeParse(value);
  if (!parsed.success)
    throw new CorruptFileError(`the store ident is malformed: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

export async function writeStoreIdent(engine: KvEngine, ident: StoreIdent): Promise<void> {
  await engine.put(CF_RAFT, STORE_IDENT_KEY, Buffer.from(JSON.stringify(storeIdentSchema.parse(ident))));
}
