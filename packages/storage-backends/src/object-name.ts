import type { Readable } from 'node:stream';
import { InvalidArgumentError, StorageError } from '@regionstore/core';

const MAX_NAME = 1024;

/**
 * Object names are relative, `/`-separated paths. Anything that could leave the storage root on a
 * file system, or mean different things on different backends, is refused.
 */
export function checkObjectName(name: string): string {
  const reason =
    typeof name !== 'string' || name.length === 0
      ? 'is empty'
      : name.length > MAX_NAME
        ? `is longer than ${MAX_NAME} characters`
        : name.includes('\0')
          ? 'contains NUL'
          : name.startsWith('/') || /^[A-Za-z]:/.test(name)
            ? 'is absolute'
            : name.includes('\\')
              ? 'contains a backslash'
              : name.split('/').some((part) => part === '..' || part === '.')
                ? "contains a '.' or '..' segment"
                : name.split('/').some((part) => part === '')
                  ? 'contains an empty segment'
                  : undefined;
  if (reason) {
    throw new InvalidArgumentError(`invalid object name ${JSON.stringify(name)}: it ${reason}`, { name });
  }
  return name;
}

export function checkRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new InvalidArgumentError(`invalid byte range: offset ${offset}, length ${length}`, {
      offset,
      length,
    });
  }
}

/** The error of a write whose stream length differs from the size the caller declared. */
export function sizeMismatch(name: string, got: number, expected: number): StorageError {
  return new StorageError(`write of ${name}: got ${got} bytes, expected ${expected}`, {
    name,
    size: got,
    expected,
  });
}

/** Reads a write's source to the end, handing each chunk to `onChunk`; checks the declared size. */
export async function consumeWrite(
  name: string,
  data: Readable | AsyncIterable<Buffer>,
  expectedSize: number | undefined,
  onChunk: (chunk: Buffer) => void = () => undefined,
): Promise<number> {
  let size = 0;
  for await (const chunk of data) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    size += buf.length;
    onChunk(buf);
  }
  if (expectedSize !== undefined && size !== expectedSize) throw sizeMismatch(name, size, expectedSize);
  return size;
}
