import { CorruptFileError, InvalidArgumentError } from '@regionstore/core';
import * as lz4 from 'lz4-napi';
import * as snappy from 'snappy';
import * as zstd from 'zstd-napi';

/** Block compression of snapshot and backup files. Each codec comes from a maintained native package. */
export const COMPRESSION_TYPES = ['none', 'lz4', 'snappy', 'zstd'] as const;
export type CompressionType = (typeof COMPRESSION_TYPES)[number];

/** The byte that names a codec inside a file; never reuse a number. */
export const COMPRESSION_IDS: Record<CompressionType, number> = { none: 0, lz4: 1, snappy: 2, zstd: 3 };

export function compressionFromId(id: number): CompressionType {
  const found = COMPRESSION_TYPES.find((type) => COMPRESSION_IDS[type] === id);
  if (!found) throw new CorruptFileError(`unknown compression id ${id}`, { id });
  return found;
}

export function checkCompression(type: string): CompressionType {
  if (!(COMPRESSION_TYPES as readonly string[]).includes(type)) {
    throw new InvalidArgumentError(
      `unknown compression '${type}'; expected one of ${COMPRESSION_TYPES.join(', ')}`,
      {
        compression: type,
      },
    );
  }
  return type as CompressionType;
}

export function compress(type: CompressionType, data: Buffer, level?: number): Buffer {
  switch (type) {
    case 'none':
      return data;
    case 'lz4':
      return lz4.compressSync(data);
    case 'snappy':
      return snappy.compressSync(data);
    case 'zstd':
      return zstd.compress(data, level === undefined ? {} : { compressionLevel: level });
  }
}

export function decompress(type: CompressionType, data: Buffer): Buffer {
  switch (type) {
    case 'none':
      return data;
    case 'lz4':
      return lz4.uncompressSync(data);
    case 'snappy':
      return snappy.uncompressSync(data, { asBuffer: true }) as Buffer;
    case 'zstd':
      return zstd.decompress(data);
  }
}
