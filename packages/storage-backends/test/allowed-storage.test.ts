import { Readable } from 'node:stream';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRegionStoreError } from '@regionstore/core';
import { LocalStorage, checkAllowedStorage } from '@regionstore/storage-backends';

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
  const allowed = [`local://${root}`, 's3://bucket/backups', 'noop://'];

  it('allows local paths inside an allowed directory, compared after resolving', () => {
    expect(refused('local:///srv/backups', allowed)).toBe('allowed');
    expect(refused('local:///srv/backups/2026/monday', allowed)).toBe('allowed');
    expect(refused('local:///srv/backups/../../etc', allowed)).toBe('Forbidden');
    expect(refused('local:///srv/backups%2F..%2F..%2Fetc', allowed)).toBe('Forbidden');
    expect(refused('local:///srv/backups-evil', allowed)).toBe('Forbidden');
    expect(refused('local://../../etc', allowed)).toBe('Forbidden');
    expect(refused('local:///etc/passwd', allowed)).toBe('Forbidden');
  });

  it('relative local paths resolve against the working directory, as the storage does', () => {
    expect(refused('local://.data/backups/x', ['local://.data/backups'])).toBe('allowed');
    expect(refused(`local://${join(process.cwd(), '.data/backups/y')}`, ['local://.data/backups'])).toBe(
      'allowed',
    );
    expect(refused('local://.data/snapshots', ['local://.data/backups'])).toBe('Forbidden');
  });

  it('allows other URLs under an allowed prefix at a / boundary, without dot segments', () => {
    expect(refused('s3://bucket/backups/nightly?region=eu-west-1', allowed)).toBe('allowed');
    expect(refused('s3://bucket/backups?region=eu-west-1', allowed)).toBe('allowed');
    expect(refused('s3://bucket/backups2', allowed)).toBe('Forbidden');
    expect(refused('s3://bucket/backups/../secrets', allowed)).toBe('Forbidden');
    expect(refused('s3://other/backups', allowed)).toBe('Forbidden');
    expect(refused('noop://', allowed)).toBe('allowed');
    expect(refused('memory://x', allowed)).toBe('Forbidden');
    expect(refused('/etc/passwd', allowed)).toMatch(/has no scheme/);
    expect(refused('local:///srv/backups', [])).toBe('Forbidden');
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
