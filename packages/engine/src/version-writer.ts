import type { Timestamp } from '@regionstore/core';
import { CF_DEFAULT } from './cf';
import type { KvReader } from './kv-engine';
import { latestTimestamps } from './latest';
import { encodeVersion, writeVersion, type MvccVersion } from './mvcc';
import { WriteBatch } from './write-batch';

/**
 * Builds one write batch of versions of which some may be older than what their keys already hold (a
 * restore writes versions at their original commit ts). `default` gets every version; `latest` only a
 * version at or above both what `reader` holds and what this batch wrote before it. `reader` must see
 * everything applied before the batch, and nothing may write these keys until the batch is applied.
 */
export class VersionWriter {
  private readonly newest = new Map<string, Timestamp>();

  constructor(
    private readonly reader: KvReader,
    readonly batch = new WriteBatch(),
  ) {}

  /** A version at a fresh commit ts, above every version its key has. */
  write(version: MvccVersion): void {
    writeVersion(this.batch, version);
    this.newest.set(version.key.toString('hex'), version.ts);
  }

  /** Versions at any commit ts. */
  async writeOlder(versions: MvccVersion[]): Promise<void> {
    const unknown = [
      ...new Map(versions.map((v) => [v.key.toString('hex'), v.key] as const)).entries(),
    ].filter(([id]) => !this.newest.has(id));
    const stored = await latestTimestamps(
      this.reader,
      unknown.map(([, key]) => key),
    );
    unknown.forEach(([id], i) => this.newest.set(id, stored[i] ?? -1n));
    for (const version of versions) {
      const id = version.key.toString('hex');
      if (version.ts >= this.newest.get(id)!) {
        this.write(version);
      } else {
        const { key, value } = encodeVersion(version);
        this.batch.put(CF_DEFAULT, key, value);
      }
    }
  }
}
