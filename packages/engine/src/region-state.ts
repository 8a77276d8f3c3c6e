import { CorruptFileError, RegionId, keyRange, type KeyRange, type Timestamp } from '@regionstore/core';
import { Packr } from 'msgpackr';
import { z } from 'zod';
import { CF_RAFT } from './cf';
import {
  REGION_STATE_KEYS,
  applyStateKey,
  isRegionStateKey,
  regionStateKey,
  snapshotRaftStateKey,
} from './data-key';
import type { KvReader } from './kv-engine';
import type { WriteBatch } from './write-batch';

const packr = new Packr({ useRecords: false });

export const PEER_STATES = ['Normal', 'Applying', 'Tombstone'] as const;
export type PeerState = (typeof PEER_STATES)[number];

export interface RegionEpoch {
  version: number;
  confVer: number;
}

/** The WAL fence epoch of a region epoch: it grows with every placement change. */
export function fenceEpochOf(epoch: RegionEpoch): number {
  return epoch.confVer;
}

/** What a node knows of a region it holds: its range, epoch, and whether it is usable. */
export interface RegionLocalState {
  regionId: RegionId;
  state: PeerState;
  range: KeyRange;
  epoch: RegionEpoch;
  /**
   * The incarnation of the WAL this copy was applied from (see LogStore.incarnation). A copy applied
   * from an earlier WAL of the region (one rebuilt by a cluster recovery) is never continued from.
   */
  walIncarnation?: string;
}

/** How far the region's WAL has been applied to this engine. */
export interface RegionApplyState {
  appliedIndex: number;
  truncatedIndex: number;
  truncatedTerm: number;
  /**
   * The highest commit ts of any version applied to the region, whichever node's clock gave it. A node
   * that opens the region raises its timestamp floor to it, so its own writes commit above them even
   * when its clock is behind the previous leader's. Absent in state written before it existed.
   */
  maxTs?: Timestamp;
}

const epochSchema = z.object({
  version: z.number().int().nonnegative(),
  confVer: z.number().int().nonnegative(),
});
const localStateSchema = z.object({
  regionId: z.string(),
  state: z.enum(PEER_STATES),
  start: z.instanceof(Uint8Array),
  end: z.instanceof(Uint8Array),
  epoch: epochSchema,
  walIncarnation: z.string().optional(),
});
const applyStateSchema = z.object({
  appliedIndex: z.number().int().nonnegative(),
  truncatedIndex: z.number().int().nonnegative(),
  truncatedTerm: z.number().int().nonnegative(),
  // A decimal string: msgpack numbers lose bits above 2^53.
  maxTs: z
    .string()
    .regex(/^\d{1,20}$/)
    .transform((text) => BigInt(text))
    .optional(),
});

function decode<S extends z.ZodType>(schema: S, what: string, raw: Buffer): z.output<S> {
  let value: unknown;
  try {
    value = packr.unpack(raw);
  } catch (err) {
    throw new CorruptFileError(`${what} is not valid msgpack: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new CorruptFileError(`${what} is malformed: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

export function encodeRegionLocalState(state: RegionLocalState): Buffer {
  return packr.pack({
    regionId: state.regionId.toString(),
    state: state.state,
    start: state.range.start,
    end: state.range.end,
    epoch: { version: state.epoch.version, confVer: state.epoch.confVer },
    ...(state.walIncarnation === undefined ? {} : { walIncarnation: state.walIncarnation }),
  });
}

export function decodeRegionLocalState(raw: Buffer): RegionLocalState {
  const value = decode(localStateSchema, 'region local state', raw);
  return {
    regionId: RegionId.parse(value.regionId),
    state: value.state,
    range: keyRange(Buffer.from(value.start), Buffer.from(value.end)),
    epoch: value.epoch,
    ...(value.walIncarnation === undefined ? {} : { walIncarnation: value.walIncarnation }),
  };
}

export function encodeApplyState(state: RegionApplyState): Buffer {
  const { maxTs, ...rest } = state;
  return packr.pack(maxTs === undefined ? rest : { ...rest, maxTs: maxTs.toString() });
}

export function decodeApplyState(raw: Buffer): RegionApplyState {
  return decode(applyStateSchema, 'region apply state', raw);
}

export async function readRegionLocalState(
  reader: KvReader,
  regionId: RegionId,
): Promise<RegionLocalState | undefined> {
  const raw = await reader.get(CF_RAFT, regionStateKey(regionId));
  return raw ? decodeRegionLocalState(raw) : undefined;
}

/** Every region this engine has a local state for (Tombstones included), in region id order. */
export async function listRegionLocalStates(reader: KvReader): Promise<RegionLocalState[]> {
  const states: RegionLocalState[] = [];
  for await (const entry of reader.iterate(CF_RAFT, REGION_STATE_KEYS)) {
    if (isRegionStateKey(entry.key)) states.push(decodeRegionLocalState(entry.value));
  }
  return states;
}

export async function readApplyState(
  reader: KvReader,
  regionId: RegionId,
): Promise<RegionApplyState | undefined> {
  const raw = await reader.get(CF_RAFT, applyStateKey(regionId));
  return raw ? decodeApplyState(raw) : undefined;
}

export function writeRegionLocalState(batch: WriteBatch, state: RegionLocalState): WriteBatch {
  return batch.put(CF_RAFT, regionStateKey(state.regionId), encodeRegionLocalState(state));
}

export function writeApplyState(batch: WriteBatch, regionId: RegionId, state: RegionApplyState): WriteBatch {
  return batch.put(CF_RAFT, applyStateKey(regionId), encodeApplyState(state));
}

/** Drops the raft state kept while a snapshot was applied. */
export function clearSnapshotRaftState(batch: WriteBatch, regionId: RegionId): WriteBatch {
  return batch.delete(CF_RAFT, snapshotRaftStateKey(regionId));
}

export function writeSnapshotRaftState(
  batch: WriteBatch,
  regionId: RegionId,
  state: RegionApplyState,
): WriteBatch {
  return batch.put(CF_RAFT, snapshotRaftStateKey(regionId), encodeApplyState(state));
}
