import { z } from 'zod';
import { MAX_WRITE_ID_LENGTH } from '@regionstore/core';
import {
  bytesCodec,
  entryIdSchema,
  keyRangeSchema,
  epochSchema,
  mutationCodec,
  nodeIdSchema,
  regionIdCodec,
  timestampCodec,
} from './codecs';
import { errorBodySchema } from './http';

/*
 * The storage node's data-plane HTTP API (JSON; keys and values base64). The client routes each key
 * to its region and sends the region id and the epoch it routed with; a stale route gets
 * EpochNotMatch / NotLeader / RegionNotFound / KeyNotInRange and the client refreshes its routes.
 */

export const writeRequestSchema = z.object({
  regionId: regionIdCodec,
  epoch: epochSchema.optional(),
  mutations: z.array(mutationCodec).min(1).max(10_000),
  /**
   * The client's id for the write, the same on every attempt: a region that committed it (or a write
   * it is a part of: `<id>/<i>` is a part of `<id>`) lately answers a re-sent copy with the first
   * answer instead of applying it again.
   */
  writeId: z.string().min(1).max(MAX_WRITE_ID_LENGTH).optional(),
  /** When the write call began, in the client's wall-clock ms (the same on every attempt). */
  firstSentMs: z.number().int().nonnegative().optional(),
  /** An earlier attempt may have landed (its connection dropped, or its outcome was unknown). */
  retry: z.boolean().optional(),
});
export type WriteRequestWire = z.input<typeof writeRequestSchema>;
export const writeResponseSchema = z.object({ commitTs: timestampCodec, entryId: entryIdSchema });

/**
 * A follower read (TiKV's replica read): any copy of the region may answer, a follower included, at a
 * ts it has fully applied (`ts` if given, else its safe ts), so the answer is consistent at that ts
 * but not linearizable. A copy that has not applied `ts` yet answers DataIsNotReady.
 */
const replicaRead = z.boolean().optional();
/** The ts a follower read was served at (only replica reads answer it). */
const readTs = timestampCodec.optional();

export const getRequestSchema = z.object({
  regionId: regionIdCodec,
  key: bytesCodec,
  /** Read as of this timestamp; default: latest (a replica read: the serving copy's safe ts). */
  ts: timestampCodec.optional(),
  replicaRead,
});
export const getResponseSchema = z.object({ value: bytesCodec.nullable(), readTs });

export const batchGetRequestSchema = z.object({
  regionId: regionIdCodec,
  keys: z.array(bytesCodec).min(1).max(10_000),
  ts: timestampCodec.optional(),
  replicaRead,
});
export const batchGetResponseSchema = z.object({ values: z.array(bytesCodec.nullable()), readTs });

/** The most commands one `/v1/batch` request may carry. */
export const MAX_BATCH_COMMANDS = 1024;

/** A write, get or batch get inside a batch: its endpoint's body plus its type. */
export const dataCommandSchema = z.discriminatedUnion('type', [
  writeRequestSchema.extend({ type: z.literal('write') }),
  getRequestSchema.extend({ type: z.literal('get') }),
  batchGetRequestSchema.extend({ type: z.literal('batch-get') }),
]);
export type DataCommand = z.output<typeof dataCommandSchema>;
export type DataCommandType = DataCommand['type'];

/**
 * `/v1/batch`: commands for any regions of one node, run concurrently and answered together (the
 * client coalesces the calls it makes to one node within a tick, as TiKV's client does).
 */
export const batchRequestSchema = z.object({
  commands: z.array(dataCommandSchema).min(1).max(MAX_BATCH_COMMANDS),
});
/**
 * One result per command, in order: `ok` with what the command's own endpoint answers (parse it with
 * that endpoint's response schema), or `error` with what it fails with.
 */
export const batchResponseSchema = z.object({
  results: z.array(z.union([z.object({ error: errorBodySchema }), z.object({ ok: z.unknown() })])),
});

export const scanRequestSchema = z.object({
  regionId: regionIdCodec,
  start: bytesCodec.default(() => Buffer.alloc(0)),
  end: bytesCodec.default(() => Buffer.alloc(0)),
  limit: z.number().int().min(1).max(10_000).default(100),
  reverse: z.boolean().default(false),
  ts: timestampCodec.optional(),
  replicaRead,
});
export const scanResponseSchema = z.object({
  entries: z.array(z.object({ key: bytesCodec, value: bytesCodec })),
  /**
   * The part of the asked range the region holds, which the entries come from: a page shorter than
   * asked means this part is done, and the scan goes on past it. Absent from nodes before it existed.
   */
  scanned: keyRangeSchema.optional(),
  readTs,
});

/** A region's placement as the metasrv hands it to clients. */
export const routeSchema = z.object({
  regionId: regionIdCodec,
  start: bytesCodec,
  end: bytesCodec,
  epoch: epochSchema,
  leader: nodeIdSchema,
  /** The leader's data-plane base URL. */
  address: z.string(),
  state: z.enum(['Normal', 'Downgrading']),
  /** Nodes holding a follower of the region (they tail its WAL), with their data-plane base URLs. */
  followers: z.array(z.object({ id: nodeIdSchema, address: z.string() })).default([]),
});
export type RouteWire = z.input<typeof routeSchema>;
export type Route = z.output<typeof routeSchema>;
export const routesResponseSchema = z.object({ routes: z.array(routeSchema) });
