import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { crc32c } from '@node-rs/crc32';
import {
  ChecksumMismatchError,
  CorruptFileError,
  InvalidArgumentError,
  compareKeys,
} from '@regionstore/core';
import { Packr } from 'msgpackr';
import { z } from 'zod';
import { ByteReader } from './byte-reader';
import {
  COMPRESSION_IDS,
  compress,
  compressionFromId,
  decompress,
  type CompressionType,
} from './compression';
import type { KvEntry } from '@regionstore/engine';

/*
 * The `.rsst` file: sorted key/value entries in blocks, for region snapshots and backups.
 *
 *   header  "RSST" | version u8 | compression u8 | 0 u16
 *   block*  0x01 | rawLength u32 | storedLength u32 | crc32c(stored) u32 | stored bytes
 *           raw block = (keyLength u32 | key | valueLength u32 | value)*
 *   footer  0x02 | length u32 | msgpack{firstKey, lastKey, kvCount, rawBytes, blockCount, sha256, meta}
 *           | crc32c(footer) u32 | "RSSE"
 *
 * `sha256` covers every byte before the footer. Writer and reader stream block by block, so memory
 * stays at about one block whatever the file size.
 */
const MAGIC = Buffer.from('RSST');
const END_MAGIC = Buffer.from('RSSE');
const VERSION = 1;
const BLOCK = 0x01;
const FOOTER = 0x02;
const BLOCK_HEADER = 13;
const MAX_FOOTER = 1024 * 1024;
const MAX_BLOCK = 256 * 1024 * 1024;

export const DEFAULT_BLOCK_SIZE = 64 * 1024;

const packr = new Packr({ useRecords: false });

export type SnapshotFileMeta = Record<string, string | number | boolean>;

export interface SnapshotFileOptions {
  compression?: CompressionType;
  compressionLevel?: number;
  /** Raw bytes per block before compression. */
  blockSize?: number;
  /** Caller fields kept in the footer (region, CF, versions, …). */
  meta?: SnapshotFileMeta;
}

export interface SnapshotFileInfo {
  firstKey: Buffer | undefined;
  lastKey: Buffer | undefined;
  kvCount: number;
  /** Sum of key and value lengths. */
  rawBytes: number;
  /** Size of the whole file. */
  fileBytes: number;
  blockCount: number;
  compression: CompressionType;
  /** Hex sha256 of every byte before the footer. */
  sha256: string;
  meta: SnapshotFileMeta;
}

const footerSchema = z.object({
  firstKey: z.instanceof(Uint8Array).nullable(),
  lastKey: z.instanceof(Uint8Array).nullable(),
  kvCount: z.number().int().nonnegative(),
  rawBytes: z.number().int().nonnegative(),
  blockCount: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  meta: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
});

function u32(value: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(value);
  return out;
}

/**
 * Encodes sorted entries as a byte stream. `info` resolves once the stream has been read to the end;
 * entries out of order (or repeated) fail the stream with InvalidArgument.
 */
export function writeSnapshotFile(
  entries: AsyncIterable<KvEntry> | Iterable<KvEntry>,
  options: SnapshotFileOptions = {},
): { stream: Readable; info: Promise<SnapshotFileInfo> } {
  const compression = options.compression ?? 'none';
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (!Number.isInteger(blockSize) || blockSize < 64 || blockSize > MAX_BLOCK) {
    throw new InvalidArgumentError(`block size must be an integer in [64, ${MAX_BLOCK}], got ${blockSize}`);
  }
  let resolveInfo!: (info: SnapshotFileInfo) => void;
  let rejectInfo!: (err: unknown) => void;
  const info = new Promise<SnapshotFileInfo>((resolve, reject) => {
    resolveInfo = resolve;
    rejectInfo = reject;
  });
  info.catch(() => undefined);

  async function* generate(): AsyncGenerator<Buffer> {
    const hash = createHash('sha256');
    let fileBytes = 0;
    const emit = (chunk: Buffer): Buffer => {
      hash.update(chunk);
      fileBytes += chunk.length;
      return chunk;
    };
    let firstKey: Buffer | undefined;
    let lastKey: Buffer | undefined;
    let kvCount = 0;
    let rawBytes = 0;
    let blockCount = 0;
    // Entries are encoded straight into one block buffer, reused block after block (it grows for an
    // entry larger than a block): no buffers per entry, one copy of each key and value.
    let block = Buffer.allocUnsafe(blockSize + 1024);
    let used = 0;

    const sealBlock = (): Buffer => {
      const raw = block.subarray(0, used);
      const stored = compress(compression, raw, options.compressionLevel);
      const out = Buffer.allocUnsafe(BLOCK_HEADER + stored.length);
      out[0] = BLOCK;
      out.writeUInt32BE(raw.length, 1);
      out.writeUInt32BE(stored.length, 5);
      out.writeUInt32BE(crc32c(stored), 9);
      out.set(stored, BLOCK_HEADER); // a copy: `stored` may be `block` itself, which is reused
      used = 0;
      blockCount++;
      return out;
    };

    /** Adds an entry to the block; true when the block is full. */
    const add = ({ key, value }: KvEntry): boolean => {
      if (lastKey && compareKeys(lastKey, key) >= 0) {
        throw new InvalidArgumentError('snapshot file entries must be in strictly ascending key order', {
          previous: lastKey.toString('hex'),
          key: key.toString('hex'),
        });
      }
      firstKey ??= Buffer.from(key);
      lastKey = key;
      kvCount++;
      rawBytes += key.length + value.length;
      const need = 8 + key.length + value.length;
      if (used + need > block.length) {
        const bigger = Buffer.allocUnsafe(Math.max(2 * block.length, used + need));
        bigger.set(block.subarray(0, used));
        block = bigger;
      }
      block.writeUInt32BE(key.length, used);
      block.set(key, used + 4);
      used += 4 + key.length;
      block.writeUInt32BE(value.length, used);
      block.set(value, used + 4);
      used += 4 + value.length;
      return used >= blockSize;
    };

    const header = Buffer.alloc(8);
    MAGIC.copy(header, 0);
    header[4] = VERSION;
    header[5] = COMPRESSION_IDS[compression];
    yield emit(header);

    // An array (a delta) is read without a promise per entry, as `for await` would make.
    if (Symbol.iterator in entries) {
      for (const entry of entries) if (add(entry)) yield emit(sealBlock());
    } else {
      for await (const entry of entries) if (add(entry)) yield emit(sealBlock());
    }
    if (used > 0) yield emit(sealBlock());
    if (lastKey) lastKey = Buffer.from(lastKey);

    const sha256 = hash.digest('hex');
    const meta = options.meta ?? {};
    const body = packr.pack({
      firstKey: firstKey ?? null,
      lastKey: lastKey ?? null,
      kvCount,
      rawBytes,
      blockCount,
      sha256,
      meta,
    });
    const footer = Buffer.concat([
      Buffer.from([FOOTER]),
      u32(body.length),
      body,
      u32(crc32c(body)),
      END_MAGIC,
    ]);
    fileBytes += footer.length;
    yield footer;
    resolveInfo({ firstKey, lastKey, kvCount, rawBytes, fileBytes, blockCount, compression, sha256, meta });
  }

  const generator = generate();
  const guarded = (async function* () {
    try {
      yield* generator;
    } catch (err) {
      rejectInfo(err);
      throw err;
    }
  })();
  return { stream: Readable.from(guarded, { objectMode: false }), info };
}

/**
 * Decodes a `.rsst` stream. Every block is checked against its CRC32C before any of its entries is
 * handed out; the footer (counts, sha256) is checked at the end, so a truncated file fails there.
 * Consumers that must not act on a partial file (restore, snapshot apply) verify first.
 */
export class SnapshotFileReader {
  private result: SnapshotFileInfo | undefined;

  constructor(
    private readonly source: AsyncIterable<Buffer | Uint8Array | string>,
    /** Named in every error. */
    readonly name: string,
  ) {}

  /** The footer's information; set once `entries()` has been read to the end. */
  get info(): SnapshotFileInfo | undefined {
    return this.result;
  }

  private corrupt(message: string, details: Record<string, unknown> = {}): CorruptFileError {
    return new CorruptFileError(`${this.name}: ${message}`, { file: this.name, ...details });
  }

  async *entries(): AsyncIterable<KvEntry> {
    const reader = new ByteReader(this.source);
    const hash = createHash('sha256');
    let fileBytes = 0;
    const take = async (n: number, what: string, hashed = true): Promise<Buffer> => {
      const bytes = await reader.read(n);
      if (!bytes) throw this.corrupt(`truncated: file ends inside ${what}`, { offset: fileBytes });
      if (hashed) hash.update(bytes);
      fileBytes += n;
      return bytes;
    };
    try {
      const header = await take(8, 'the header');
      if (!header.subarray(0, 4).equals(MAGIC)) throw this.corrupt('not a snapshot file (bad magic)');
      if (header[4] !== VERSION) throw this.corrupt(`unsupported format version ${header[4]}`);
      const compression = compressionFromId(header[5]!);

      let kvCount = 0;
      let rawBytes = 0;
      let block = 0;
      let firstKey: Buffer | undefined;
      let lastKey: Buffer | undefined;
      for (;;) {
        const type = await reader.read(1);
        if (!type) throw this.corrupt('truncated: no footer', { block });
        fileBytes += 1;
        if (type[0] === FOOTER) break;
        if (type[0] !== BLOCK) throw this.corrupt(`bad block type ${type[0]} at block ${block}`, { block });
        hash.update(type);
        const blockHeader = await take(12, `the header of block ${block}`);
        const rawLength = blockHeader.readUInt32BE(0);
        const storedLength = blockHeader.readUInt32BE(4);
        if (storedLength > MAX_BLOCK || rawLength > MAX_BLOCK) {
          throw this.corrupt(`block ${block} claims an impossible size`, { block });
        }
        const stored = await take(storedLength, `block ${block}`);
        if (crc32c(stored) !== blockHeader.readUInt32BE(8)) {
          throw new ChecksumMismatchError(`${this.name}: checksum mismatch in block ${block}`, {
            file: this.name,
            block,
          });
        }
        let raw: Buffer;
        try {
          raw = decompress(compression, stored);
        } catch (err) {
          throw this.corrupt(`block ${block} does not decompress: ${(err as Error).message}`, { block });
        }
        if (raw.length !== rawLength) throw this.corrupt(`block ${block} has the wrong length`, { block });
        const decoded: KvEntry[] = [];
        for (let at = 0; at < raw.length;) {
          if (at + 4 > raw.length) throw this.corrupt(`block ${block} entry header cut short`, { block });
          const keyLength = raw.readUInt32BE(at);
          const valueAt = at + 4 + keyLength;
          if (valueAt + 4 > raw.length)
            throw this.corrupt(`block ${block} key overruns the block`, { block });
          const valueLength = raw.readUInt32BE(valueAt);
          const end = valueAt + 4 + valueLength;
          if (end > raw.length) throw this.corrupt(`block ${block} value overruns the block`, { block });
          const key = raw.subarray(at + 4, valueAt);
          if (lastKey && compareKeys(lastKey, key) >= 0)
            throw this.corrupt(`block ${block} keys out of order`, { block });
          firstKey ??= key;
          lastKey = key;
          decoded.push({ key, value: raw.subarray(valueAt + 4, end) });
          rawBytes += keyLength + valueLength;
          at = end;
        }
        kvCount += decoded.length;
        block++;
        yield* decoded;
      }

      const length = (await take(4, 'the footer', false)).readUInt32BE(0);
      if (length > MAX_FOOTER) throw this.corrupt('footer claims an impossible size');
      const body = await take(length, 'the footer', false);
      const trailer = await take(8, 'the footer', false);
      if (crc32c(body) !== trailer.readUInt32BE(0)) {
        throw new ChecksumMismatchError(`${this.name}: checksum mismatch in the footer`, {
          file: this.name,
          block: 'footer',
        });
      }
      if (!trailer.subarray(4).equals(END_MAGIC)) throw this.corrupt('bad end magic');
      if (!(await reader.atEnd())) throw this.corrupt('unexpected bytes after the footer');
      let parsed: z.output<typeof footerSchema>;
      try {
        parsed = footerSchema.parse(packr.unpack(body));
      } catch (err) {
        throw this.corrupt(`malformed footer: ${(err as Error).message}`);
      }
      const sha256 = hash.digest('hex');
      if (parsed.sha256 !== sha256) {
        throw new ChecksumMismatchError(`${this.name}: sha256 mismatch`, {
          file: this.name,
          expected: parsed.sha256,
          actual: sha256,
        });
      }
      if (parsed.kvCount !== kvCount || parsed.rawBytes !== rawBytes || parsed.blockCount !== block) {
        throw this.corrupt('footer counts do not match the blocks', {
          footer: { kvCount: parsed.kvCount, rawBytes: parsed.rawBytes, blockCount: parsed.blockCount },
          actual: { kvCount, rawBytes, blockCount: block },
        });
      }
      this.result = {
        firstKey: parsed.firstKey ? Buffer.from(parsed.firstKey) : undefined,
        lastKey: parsed.lastKey ? Buffer.from(parsed.lastKey) : undefined,
        kvCount,
        rawBytes,
        fileBytes,
        blockCount: block,
        compression,
        sha256,
        meta: parsed.meta,
      };
    } finally {
      await reader.close();
    }
  }
}

/** Reads a whole file, checking every block and the footer; returns the footer's information. */
export async function verifySnapshotFile(
  source: AsyncIterable<Buffer | Uint8Array | string>,
  name: string,
): Promise<SnapshotFileInfo> {
  const reader = new SnapshotFileReader(source, name);
  for await (const _entry of reader.entries()) {
    // only the checks matter here
  }
  return reader.info!;
}
