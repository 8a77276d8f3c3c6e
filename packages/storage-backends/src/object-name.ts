import { InvalidArgumentError } from '@regionstore/core';

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
