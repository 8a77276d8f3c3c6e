import { isAbsolute, relative, resolve, sep } from 'node:path';
import { ForbiddenError, InvalidArgumentError } from '@regionstore/core';

/**
 * The default for `backup.allowedStorage`: `.data/backups` under the process's directory, and the
 * cluster's own object store when the process knows it (`snapshotStorage`).
 */
export function defaultAllowedStorage(objectStore?: string): string[] {
  return ['local://.data/backups', ...(objectStore ? [objectStore] : [])];
}

function localPath(url: string): string {
  const path = decodeURIComponent(url.slice('local://'.length));
  return isAbsolute(path) ? resolve(path) : resolve(process.cwd(), path);
}

/** `url` without `..` or `.` path segments that could climb out of a prefix it matches as a string. */
function hasDotSegments(url: string): boolean {
  const path = url.replace(/^[a-z0-9]+:\/\//, '').split(/[?#]/)[0]!;
  return decodeURIComponent(path)
    .split('/')
    .some((segment) => segment === '..' || segment === '.');
}

/**
 * Refuses (Forbidden) a backup or restore storage URL outside `allowed`. `local://` URLs are compared
 * as resolved paths, one directory inside another (`local://../../etc` resolves before it is
 * compared); any other URL must start with an allowed one at a `/` boundary and hold no dot segments.
 * The error names the setting, never the filesystem.
 */
export function checkAllowedStorage(url: string, allowed: readonly string[]): void {
  if (!/^[a-z0-9]+:\/\//.test(url)) {
    throw new InvalidArgumentError(`storage URL ${JSON.stringify(url)} has no scheme (expected scheme://…)`);
  }
  const ok = allowed.some((prefix) => {
    if (url.startsWith('local://') && prefix.startsWith('local://')) {
      const inside = relative(localPath(prefix), localPath(url));
      return inside === '' || (!inside.startsWith('..') && !isAbsolute(inside) && !inside.startsWith(sep));
    }
    if (hasDotSegments(url)) return false;
    const base = prefix.replace(/\/+$/, '');
    return url === base || url.startsWith(`${base}/`) || url.startsWith(`${base}?`);
  });
  if (!ok) {
    throw new ForbiddenError(
      `storage ${JSON.stringify(url)} is outside backup.allowedStorage (${allowed.join(', ') || 'empty'})`,
      { storage: url, allowed },
    );
  }
}
