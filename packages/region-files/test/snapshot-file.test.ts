import { Readable } from 'node:stream';
import { ChecksumMismatchError, CorruptFileError, InvalidArgumentError } from '@regionstore/core';
import { type KvEntry } from '@regionstore/engine';
import { collect } from '@regionstore/testing';
import {
  COMPRESSION_TYPES,
  SnapshotFileReader,
  checkCompression,
  compress,
  decompress,
  verifySnapshotFile,
  writeSnapshotFile,
  type SnapshotFileOptions,
} from '@regionstore/region-files';

function entries(n: number, valueSize = 100): KvEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    key: Buffer.from(`key-${String(i).padStart(6, '0')}`),
    value: Buffer.alloc(valueSize, i % 251),
  }));
}

async function encode(items: Iterable<KvEntry>, options: SnapshotFileOptions = {}) {
  const { stream, info } = writeSnapshotFile(items, options);
  const bytes = Buffer.concat(await collect(stream as AsyncIterable<Buffer>));
  return { bytes, info: await info };
}

/** Feeds bytes in small uneven chunks, as a network stream would. */
function chunked(bytes: Buffer, size = 1000): Readable {
  const parts: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = size + (i % 7) * 13;
    parts.push(bytes.subarray(at, at + n));
    at += n;
  }
  return Readable.from(parts);
}

async function decode(bytes: Buffer, name = 'test.rsst') {
  const reader = new SnapshotFileReader(chunked(bytes), name);
  const out = await collect(reader.entries());
  return { out, info: reader.info! };
}

describe('compression codecs', () => {
  it.each(COMPRESSION_TYPES)('%s round-trips', (type) => {
    const data = Buffer.from('regionstore '.repeat(1000));
    const packed = compress(type, data, type === 'zstd' ? 5 : undefined);
    if (type !== 'none') expect(packed.length).toBeLessThan(data.length);
    expect(decompress(type, packed).equals(data)).toBe(true);
  });

  it('rejects unknown names', () => {
    expect(() => checkCompression('gzip')).toThrow(InvalidArgumentError);
  });
});

describe('snapshot file format', () => {
  it.each(COMPRESSION_TYPES)('round-trips through %s with footer facts', async (compression) => {
    const items = entries(3000);
    const { bytes, info } = await encode(items, {
      compression,
      blockSize: 4096,
      meta: { region: '1:2', cf: 'default' },
    });
    expect(info.kvCount).toBe(3000);
    expect(info.blockCount).toBeGreaterThan(10);
    expect(info.fileBytes).toBe(bytes.length);
    expect(info.firstKey?.toString()).toBe('key-000000');
    expect(info.lastKey?.toString()).toBe('key-002999');
    expect(info.rawBytes).toBe(items.reduce((n, e) => n + e.key.length + e.value.length, 0));
    const { out, info: read } = await decode(bytes);
    expect(out).toHaveLength(3000);
    expect(out.every((e, i) => e.key.equals(items[i]!.key) && e.value.equals(items[i]!.value))).toBe(true);
    expect(read.sha256).toBe(info.sha256);
    expect(read.compression).toBe(compression);
    expect(read.meta).toEqual({ region: '1:2', cf: 'default' });
  });

  it('handles an empty file and empty values', async () => {
    const empty = await encode([]);
    expect(empty.info.kvCount).toBe(0);
    const { out, info } = await decode(empty.bytes);
    expect(out).toEqual([]);
    expect(info.firstKey).toBeUndefined();
    const withEmpty = await encode([{ key: Buffer.from('k'), value: Buffer.alloc(0) }]);
    expect((await decode(withEmpty.bytes)).out[0]!.value.length).toBe(0);
  });

  it('takes entries larger than a block, from arrays and from async sources alike', async () => {
    const items = [
      { key: Buffer.from('a'), value: Buffer.alloc(10, 1) },
      { key: Buffer.from('b'), value: Buffer.alloc(5000, 2) }, // grows the block buffer
      { key: Buffer.from('c'), value: Buffer.alloc(10, 3) },
    ];
    async function* later(): AsyncIterable<KvEntry> {
      yield* items;
    }
    const fromArray = await encode(items, { blockSize: 64 });
    const { stream, info } = writeSnapshotFile(later(), { blockSize: 64 });
    const fromAsync = Buffer.concat(await collect(stream as AsyncIterable<Buffer>));
    expect(fromAsync.equals(fromArray.bytes)).toBe(true);
    expect((await info).blockCount).toBe(2);
    const { out } = await decode(fromArray.bytes);
    expect(out.map((e) => [e.key.toString(), e.value.length, e.value[0]])).toEqual([
      ['a', 10, 1],
      ['b', 5000, 2],
      ['c', 10, 3],
    ]);
  });

  it('refuses entries out of order', async () => {
    const { stream, info } = writeSnapshotFile([
      { key: Buffer.from('b'), value: Buffer.from('1') },
      { key: Buffer.from('a'), value: Buffer.from('2') },
    ]);
    await expect(collect(stream as AsyncIterable<Buffer>)).rejects.toThrow(InvalidArgumentError);
    await expect(info).rejects.toThrow(/ascending/);
  });

  it('names the block whose bytes were flipped, before handing out its entries', async () => {
    const { bytes } = await encode(entries(2000), { blockSize: 4096, compression: 'lz4' });
    const bad = Buffer.from(bytes);
    const offset = Math.floor(bytes.length / 2);
    bad[offset] = bad[offset]! ^ 0xff;
    const reader = new SnapshotFileReader(chunked(bad), 'region-1.rsst');
    const seen: KvEntry[] = [];
    const err = await (async () => {
      for await (const entry of reader.entries()) seen.push(entry);
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumMismatchError);
    expect((err as ChecksumMismatchError).message).toMatch(
      /^region-1\.rsst: checksum mismatch in block \d+$/,
    );
    // Everything handed out before the error is correct data.
    const good = entries(2000);
    expect(seen.every((e, i) => e.key.equals(good[i]!.key) && e.value.equals(good[i]!.value))).toBe(true);
  });

  it('detects truncation anywhere, a bad footer, trailing bytes and foreign files', async () => {
    const { bytes } = await encode(entries(500), { blockSize: 2048 });
    for (const cut of [3, 8, 20, Math.floor(bytes.length / 2), bytes.length - 30, bytes.length - 1]) {
      await expect(verifySnapshotFile(chunked(bytes.subarray(0, cut)), 'cut.rsst')).rejects.toThrow(
        CorruptFileError,
      );
    }
    const footerFlip = Buffer.from(bytes);
    footerFlip[bytes.length - 12] = footerFlip[bytes.length - 12]! ^ 1;
    await expect(verifySnapshotFile(chunked(footerFlip), 'f.rsst')).rejects.toThrow(ChecksumMismatchError);
    await expect(
      verifySnapshotFile(chunked(Buffer.concat([bytes, Buffer.from([0])])), 't.rsst'),
    ).rejects.toThrow(/unexpected bytes after the footer/);
    await expect(
      verifySnapshotFile(chunked(Buffer.from('not a snapshot file at all')), 'x.txt'),
    ).rejects.toThrow(/x\.txt: not a snapshot file/);
  });

  it('streams a file far larger than a block with flat memory', async () => {
    const valueSize = 4096;
    const count = 52_000; // a little over 200 MiB of values
    const value = Buffer.alloc(valueSize, 7);
    function* generate(): Iterable<KvEntry> {
      for (let i = 0; i < count; i++) {
        const key = Buffer.alloc(8);
        key.writeUInt32BE(i, 4);
        yield { key, value };
      }
    }
    const sample = () => {
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const baseline = sample();
    let peak = baseline;
    const { stream, info } = writeSnapshotFile(generate(), { blockSize: 64 * 1024 });
    const reader = new SnapshotFileReader(stream, 'big.rsst');
    let n = 0;
    for await (const _entry of reader.entries()) {
      if (++n % 500 === 0) peak = Math.max(peak, sample());
    }
    expect(n).toBe(count);
    expect((await info).rawBytes).toBeGreaterThan(200 * 1024 * 1024);
    // A buffering implementation would hold the whole 200 MiB; streaming stays far below that.
    expect(peak - baseline).toBeLessThan(96 * 1024 * 1024);
  });
});
