import { InvalidArgumentError, RegionId } from '@regionstore/core';
import {
  QueueNames,
  clusterKey,
  decodeJobPayload,
  decodeJobResult,
  encodeJobPayload,
  encodeJobResult,
  errorFromResponse,
  leaseGrantKey,
  metasrvLeaderKey,
  timestampCodec,
  type JobPayload,
} from '@regionstore/protocol';

describe('queue names', () => {
  it('names the cluster queues and per-node queues', () => {
    const names = new QueueNames('ci-1');
    expect(names.prefix).toBe('ci-1');
    expect(names.node('n1')).toBe('node-n1');
    expect(names.metasrv).toBe('metasrv');
    expect(() => names.node('bad id')).toThrow(/invalid node id 'bad id'/);
    expect(() => names.nodeBulk('bad id')).toThrow(/invalid node id 'bad id'/);
  });

  it("sends backup, restore and restore's check to a node queue of their own, which no node id can name", () => {
    const names = new QueueNames('ci-1');
    expect(names.nodeQueueFor('n1', 'backup')).toBe('node-n1.bulk');
    expect(names.nodeQueueFor('n1', 'restore')).toBe('node-n1.bulk');
    expect(names.nodeQueueFor('n1', 'newer-version')).toBe('node-n1.bulk');
    for (const job of ['open-region', 'upgrade-region', 'apply-snapshot', 'split-region'] as const) {
      expect(names.nodeQueueFor('n1', job)).toBe('node-n1');
    }
    // 'n1.bulk' is not a node id, so the bulk queue of n1 is nobody's task queue.
    expect(() => names.node('n1.bulk')).toThrow(InvalidArgumentError);
  });

  it('hash-tags BullMQ and every cluster-wide key with the prefix, so on Redis Cluster they share a slot', () => {
    expect(new QueueNames('ci-1').bullmqPrefix).toBe('{ci-1}');
    expect(clusterKey('ci-1', 'meta', 'routes')).toBe('{ci-1}:meta:routes');
    expect(leaseGrantKey('ci-1', 'n1')).toBe('{ci-1}:meta:lease:n1');
    expect(metasrvLeaderKey('ci-1')).toBe('{ci-1}:meta:leader');
    expect(() => new QueueNames('{ci-1}')).toThrow(/must be 1-128 of/);
  });

  it('rejects prefixes and node ids that would break Redis keys or queue names', () => {
    expect(() => new QueueNames('bad:prefix')).toThrow(InvalidArgumentError);
    expect(() => new QueueNames('')).toThrow(InvalidArgumentError);
    expect(() => new QueueNames().node('has space')).toThrow(InvalidArgumentError);
    expect(() => new QueueNames().node('a'.repeat(65))).toThrow(InvalidArgumentError);
  });
});

describe('job schemas', () => {
  const open: JobPayload<'open-region'> = {
    regionId: new RegionId(0xffff_ffff, 7),
    range: { start: Buffer.from([0x00, 0xff]), end: Buffer.alloc(0) },
    epoch: { version: 3, confVer: 1 },
    role: 'leader',
  };

  it('round-trips binary keys and 64-bit region ids through JSON', () => {
    const wire = JSON.parse(JSON.stringify(encodeJobPayload('open-region', open)));
    expect(wire).toEqual({
      regionId: '4294967295:7',
      range: { start: 'AP8=', end: '' },
      epoch: { version: 3, confVer: 1 },
      role: 'leader',
    });
    const back = decodeJobPayload('open-region', wire);
    expect(back.regionId.equals(open.regionId)).toBe(true);
    expect(back.range.start.equals(open.range.start)).toBe(true);
  });

  it('fills defaults on decode', () => {
    expect(decodeJobPayload('close-region', { regionId: '1:2' }).destroy).toBe(false);
  });

  it('validates heartbeats', () => {
    const beat = decodeJobPayload('heartbeat', {
      nodeId: 'n1',
      address: 'http://127.0.0.1:4101',
      timestampMs: 1,
      regions: [
        {
          regionId: '1:1',
          role: 'leader',
          epoch: { version: 1, confVer: 1 },
          approximateSizeBytes: 10,
          writtenBytesSinceFlush: 0,
          lastEntryId: 0,
        },
      ],
    });
    expect(beat.regions[0]!.regionId.toString()).toBe('1:1');
    expect(decodeJobResult('heartbeat', encodeJobResult('heartbeat', { accepted: true }))).toEqual({
      accepted: true,
    });
  });

  it('names every bad field of a malformed payload in one InvalidArgument', () => {
    let caught: unknown;
    try {
      decodeJobPayload('open-region', {
        regionId: 'x',
        range: { start: '!!', end: '' },
        epoch: { version: -1 },
        role: 'king',
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidArgumentError);
    const paths = ((caught as InvalidArgumentError).details.issues as Array<{ path: string }>).map(
      (i) => i.path,
    );
    expect(paths).toEqual(
      expect.arrayContaining(['regionId', 'range.start', 'epoch.version', 'epoch.confVer', 'role']),
    );
  });

  it('refuses unknown fields, at any depth, instead of stripping them (a malformed job must not act)', () => {
    const wire = JSON.parse(JSON.stringify(encodeJobPayload('open-region', open))) as Record<string, unknown>;
    expect(() => decodeJobPayload('open-region', { ...wire, destroy: true })).toThrow(
      /invalid payload for job 'open-region': \(root\): Unrecognized key: "destroy"/,
    );
    expect(() =>
      decodeJobPayload('open-region', { ...wire, epoch: { version: 1, confVer: 1, leader: 'me' } }),
    ).toThrow(/epoch: Unrecognized key/);
    // A close-region job with a misspelt field would have closed the region with defaults.
    expect(() => decodeJobPayload('close-region', { regionId: '1:0', destory: true })).toThrow(
      /Unrecognized key: "destory"/,
    );
  });

  it('rejects unknown jobs and non-object data', () => {
    expect(() => decodeJobPayload('launch-missiles' as never, {})).toThrow(/unknown job 'launch-missiles'/);
    expect(() => decodeJobPayload('close-region', null)).toThrow(InvalidArgumentError);
    expect(() => decodeJobPayload('close-region', 'str')).toThrow(InvalidArgumentError);
  });

  it('carries timestamps as decimal strings without losing bits', () => {
    const ts = (1n << 63n) + 1n;
    expect(timestampCodec.encode(ts)).toBe('9223372036854775809');
    expect(timestampCodec.decode('9223372036854775809')).toBe(ts);
    expect(timestampCodec.safeParse('18446744073709551616').success).toBe(false);
  });
});

describe('HTTP error bodies', () => {
  it('rebuilds typed errors from response bodies', () => {
    const err = errorFromResponse(421, { code: 'NotLeader', message: 'moved', details: { leader: 'n2' } });
    expect(err.code).toBe('NotLeader');
    expect(err.details).toEqual({ leader: 'n2' });
    const garbage = errorFromResponse(500, '<html>oops</html>');
    expect(garbage.code).toBe('Internal');
    expect(garbage.details).toEqual({ status: 500 });
    // A closing fastify server's own 503, or a proxy's 502: the node is going away, try again.
    const closing = errorFromResponse(503, { statusCode: 503, error: 'Service Unavailable', message: 'x' });
    expect(closing.code).toBe('ServerIsBusy');
    expect(closing.details).toEqual({ status: 503 });
    expect(errorFromResponse(502, '<html>bad gateway</html>').code).toBe('ServerIsBusy');
  });
});
