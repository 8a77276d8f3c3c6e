import { isAbsolute, resolve } from 'node:path';
import { InvalidArgumentError } from '@regionstore/core';
import { LocalStorage } from './local-storage';
import { MemoryStorage } from './memory-storage';
import { NoopStorage } from './noop-storage';
import { S3Storage } from './s3-storage';
import type { ExternalStorage } from './storage';

function invalid(url: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid storage URL '${url}': ${why}`, { url });
}

/**
 * A storage from its URL:
 * - `local:///abs/dir`, or `local://./rel/dir` (resolved from the current directory)
 * - `s3://bucket/prefix?endpoint=http://host:port&region=us-east-1&forcePathStyle=true`
 * - `noop://` (keeps nothing), `memory://name` (process-local)
 */
export function createStorage(url: string): ExternalStorage {
  const scheme = /^([a-z0-9]+):\/\//.exec(url)?.[1];
  if (!scheme) throw invalid(url, 'expected scheme://…');
  const rest = url.slice(scheme.length + 3);
  switch (scheme) {
    case 'local': {
      if (!rest) throw invalid(url, 'no directory');
      if (rest.includes('\0')) throw invalid(url, 'NUL in path');
      const path = decodeURIComponent(rest);
      return new LocalStorage(isAbsolute(path) ? path : resolve(process.cwd(), path));
    }
    case 'memory':
      if (!/^[A-Za-z0-9_.-]+$/.test(rest)) throw invalid(url, 'expected memory://name');
      return new MemoryStorage(rest);
    case 'noop':
      if (rest) throw invalid(url, 'noop:// takes nothing after the scheme');
      return new NoopStorage();
    case 's3': {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw invalid(url, 'not a URL');
      }
      const bucket = parsed.hostname;
      if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
        throw invalid(url, `bad bucket name '${bucket}'`);
      if (parsed.username || parsed.password)
        throw invalid(url, 'credentials do not belong in the URL; use the AWS environment or profile');
      const known = new Set(['endpoint', 'region', 'forcePathStyle']);
      for (const key of parsed.searchParams.keys())
        if (!known.has(key)) throw invalid(url, `unknown option '${key}'`);
      const endpoint = parsed.searchParams.get('endpoint') ?? undefined;
      if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint))
        throw invalid(url, `bad endpoint '${endpoint}'`);
      const forcePathStyle = parsed.searchParams.get('forcePathStyle');
      if (forcePathStyle !== null && forcePathStyle !== 'true' && forcePathStyle !== 'false') {
        throw invalid(url, 'forcePathStyle must be true or false');
      }
      return new S3Storage({
        bucket,
        prefix: decodeURIComponent(parsed.pathname).replace(/^\/+|\/+$/g, ''),
        ...(endpoint ? { endpoint } : {}),
        ...(parsed.searchParams.get('region') ? { region: parsed.searchParams.get('region')! } : {}),
        ...(forcePathStyle !== null ? { forcePathStyle: forcePathStyle === 'true' } : {}),
      });
    }
    default:
      throw invalid(url, `unknown scheme '${scheme}'; expected local, s3, noop or memory`);
  }
}
