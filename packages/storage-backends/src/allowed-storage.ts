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

/** A URL's part before `?`, and its query parameters. */
function splitQuery(url: string): [string, URLSearchParams] {
  const at = url.indexOf('?');
  return at < 0 ? [url, new URLSearchParams()] : [url.slice(0, at), new URLSearchParams(url.slice(at + 1))];
}

/**
 * Refuses (Forbidden) a backup or restore storage URL outside `allowed`. `local://` URLs are compared
 * as resolved paths, one directory inside another (`local://../../etc` resolves before it is
 * compared); any other URL must start with an allowed one at a `/` boundary, hold no dot segments and
 * name the same `endpoint` (S3's server) as it, or none when it names none.
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
    const [path, query] = splitQuery(url);
    const [basePath, baseQuery] = splitQuery(prefix);
    const base = basePath.replace(/\/+$/, '');
    // The endpoint says which server the bucket is on: another one is another place, whatever the path.
    const sameServer = query.get('endpoint') === baseQuery.get('endpoint');
    return sameServer && (path === base || path.startsWith(`${base}/`));
  });
  if (!ok) {
    throw new ForbiddenError(
      `storage ${JSON.stringify(url)} is outside backup.allowedStorage (${allowed.join(', ') || 'empty'})`,
      { storage: url, allowed },
    );
  }
}
