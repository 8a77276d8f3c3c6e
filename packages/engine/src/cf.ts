import { InvalidCfError } from '@regionstore/core';

/**
 * Column families, with TiKV's names: user data versions, in-flight write intents, region-local
 * state; and ours, `latest`: each user key's newest version, so a read at the latest timestamp is one
 * point get (see latest.ts).
 */
export const CF_DEFAULT = 'default';
export const CF_LOCK = 'lock';
export const CF_WRITE = 'write';
export const CF_RAFT = 'raft';
export const CF_LATEST = 'latest';

export const ALL_CFS = [CF_DEFAULT, CF_LOCK, CF_WRITE, CF_RAFT, CF_LATEST] as const;
/**
 * The CFs that hold a region's data (everything but the region-local `raft` state). `latest` comes
 * first: deleting a range CF by CF then removes the entries naming versions before the versions, so
 * a reader meanwhile never finds an entry whose version is gone.
 */
export const DATA_CFS = [CF_LATEST, CF_DEFAULT, CF_LOCK, CF_WRITE] as const;

export type CfName = (typeof ALL_CFS)[number];

export function isCf(name: string): name is CfName {
  return (ALL_CFS as readonly string[]).includes(name);
}

export function checkCf(name: string): CfName {
  if (!isCf(name)) {
    throw new InvalidCfError(`unknown column family '${name}'; expected one of ${ALL_CFS.join(', ')}`, {
      cf: name,
    });
  }
  return name;
}
