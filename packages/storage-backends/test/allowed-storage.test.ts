import { Readable } from 'node:stream';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRegionStoreError } from '@regionstore/core';
import { LocalStorage, checkAllowedStorage, defaultAllowedStorage } from '@regionstore/storage-backends';

const refused = (url: string, allowed: string[]) => {
  try {
    checkAllowedStorage(url, allowed);
  } catch (err) {
    return isRegionStoreError(err, 'Forbidden') ? 'Forbidden' : (err as Error).message;
  }
  return 'allowed';
};

describe('backup.allowedStorage', () => {
  const root = '/srv/backups';
  const allowed = [
    `local://${root}`,
    's3://bucket/backups',
    's3://minio-bucket/dumps?endpoint=http://minio:9000',
    'noop://',
  ];

  it.each([
    ['local:///srv/backups', 'allowed'],
    ['local:///srv/backups/2026/monday', 'allowed'],
    ['local:///srv/backups/../../etc', 'Forbidden'],
    ['local:///srv/backups%2F..%2F..%2Fetc', 'Forbidden'],
    ['local:///srv/backups-evil', 'Forbidden'],
    ['local://../../etc', 'Forbidden'],
    ['local:///etc/passwd', 'Forbidden'],
    // other URLs: under an allowed prefix at a / boundary, without dot segments
    ['s3://bucket/backups/nightly?region=eu-west-1', 'allowed'],
    ['s3://bucket/backups?region=eu-west-1', 'allowed'],
    ['s3://bucket/backups2', 'Forbidden'],
    ['s3://bucket/backups/../secrets', 'Forbidden'],
    ['s3://other/backups', 'Forbidden'],
    // another server is another place: the endpoint must be the allowed one's (none for none)
    ['s3://bucket/backups?endpoint=http://attacker:9000', 'Forbidden'],
    ['s3://bucket/backups/x?region=eu-west-1&endpoint=http://10.0.0.5', 'Forbidden'],
    ['s3://minio-bucket/dumps/monday?endpoint=http://minio:9000&forcePathStyle=true', 'allowed'],
    ['s3://minio-bucket/dumps?endpoint=http://other:9000', 'Forbidden'],
    ['s3://minio-bucket/dumps', 'Forbidden'],
    ['noop://', 'allowed'],
    ['memory://x', 'Forbidden'],
  ])('%s is %s (local paths compared after resolving)', (url, verdict) => {
    expect(refused(url, allowed)).toBe(verdict);
  });

  it("defaults to .data/backups and the cluster's own object store", () => {
    expect(defaultAllowedStorage()).toEqual(['local://.data/backups']);
    expect(defaultAllowedStorage('s3://bucket/cluster')).toEqual([
      'local://.data/backups',
      's3://bucket/cluster',
    ]);
    expect(refused('s3://bucket/cluster/backups/1', defaultAllowedStorage('s3://bucket/cluster'))).toBe(
      'allowed',
    );
  });

  it('refuses URLs without a scheme, and everything when the list is empty', () => {
    expect(refused('/etc/passwd', allowed)).toMatch(/has no scheme/);
    expect(refused('local:///srv/backups', [])).toBe('Forbidden');
  });

  it('relative local paths resolve against the working directory, as the storage does', () => {
    expect(refused('local://.data/backups/x', ['local://.data/backups'])).toBe('allowed');
    expect(refused(`local://${join(process.cwd(), '.data/backups/y')}`, ['local://.data/backups'])).toBe(
      'allowed',
    );
    expect(refused('local://.data/snapshots', ['local://.data/backups'])).toBe('Forbidden');
  });
});

describe('LocalStorage on a root that does not exist', () => {
  it('reads and lists nothing, and creates no directory; a write creates it', async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'rs-allowed-')), 'not', 'there');
    const storage = new LocalStorage(root);
    expect(await storage.exists('backupmeta')).toBe(false);
    await expect(storage.read('backupmeta')).rejects.toMatchObject({ code: 'NotFound' });
    const listed = [];
    for await (const object of storage.list()) listed.push(object);
    expect(listed).toEqual([]);
    expect(existsSync(root)).toBe(false);
    await storage.write('a', Readable.from([Buffer.from('x')]));
    expect(existsSync(join(root, 'a'))).toBe(true);
  });
});
