import { RegionStoreClient } from '@regionstore/client';
import Fastify from 'fastify';

/** Keys a‥z, one per letter, each with its letter as value. */
const KEYS = 'abcdefghijklmnopqrstuvwxyz'.split('');
const b64 = (text: string) => Buffer.from(text).toString('base64');
const text = (raw: string) => Buffer.from(raw, 'base64').toString();

type Regions = Record<string, [start: string, end: string]>;

/**
 * A metasrv and one node on one server. The node holds `regions` (what the node has now); the routes
 * it hands out are `stale` until the first refresh, then the node's own. A `legacy` node answers as
 * nodes did before `scanned`: no anchoring check, the asked range clipped to the region silently.
 */
async function fakeCluster(regions: Regions, stale: Regions, legacy = false) {
  const app = Fastify();
  const base = () => `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  let routeCalls = 0;
  const asked: string[] = [];
  app.get('/v1/routes', async () => {
    const current = routeCalls++ === 0 ? stale : regions;
    return {
      routes: Object.entries(current).map(([regionId, [start, end]]) => ({
        regionId,
        start: b64(start),
        end: b64(end),
        epoch: { version: 1, confVer: 1 },
        leader: 'n1',
        address: `${base()}/n1`,
        state: 'Normal',
      })),
    };
  });
  app.post('/n1/v1/scan', async (request, reply) => {
    const body = request.body as {
      regionId: string;
      start: string;
      end: string;
      limit: number;
      reverse: boolean;
    };
    const [start, end, reverse] = [text(body.start), text(body.end), body.reverse];
    asked.push(`${body.regionId} ${start}..${end}${reverse ? ' reverse' : ''}`);
    const region = regions[body.regionId];
    if (!region) return reply.status(404).send({ code: 'RegionNotFound', message: 'gone', details: {} });
    const inRegion = (key: string) => key >= region[0] && (region[1] === '' || key < region[1]);
    const holdsEnd =
      end === '' ? region[1] === '' : region[0] < end && (region[1] === '' || end <= region[1]);
    if (!legacy && !(reverse ? holdsEnd : inRegion(start)))
      return reply.status(409).send({ code: 'KeyNotInRange', message: 'elsewhere', details: {} });
    const lo = start > region[0] ? start : region[0];
    const hi = region[1] === '' ? end : end === '' || region[1] < end ? region[1] : end;
    const keys = KEYS.filter((k) => k >= lo && (hi === '' || k < hi));
    if (reverse) keys.reverse();
    return {
      entries: keys.slice(0, body.limit).map((k) => ({ key: b64(k), value: b64(k) })),
      ...(legacy ? {} : { scanned: { start: b64(lo), end: b64(hi) } }),
    };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, asked, url: base() };
}

/** Regions as a node has them after 1:1 split at "h" (child 1:2) and 1:3 begins at "p". */
const SPLIT: Regions = { '1:1': ['', 'h'], '1:2': ['h', 'p'], '1:3': ['p', ''] };
const BEFORE_SPLIT: Regions = { '1:1': ['', 'p'], '1:3': ['p', ''] };
/** After 1:2 merged into 1:1. */
const MERGED: Regions = { '1:1': ['', 'p'], '1:3': ['p', ''] };

describe('RegionStoreClient scans across regions', () => {
  const clusters: Array<Awaited<ReturnType<typeof fakeCluster>>> = [];
  const clients: RegionStoreClient[] = [];
  const scanOf = async (regions: Regions, stale: Regions, legacy = false) => {
    const cluster = await fakeCluster(regions, stale, legacy);
    const client = new RegionStoreClient({ metasrv: cluster.url, retryTimeoutMs: 3000, wire: 'json' });
    clusters.push(cluster);
    clients.push(client);
    return {
      cluster,
      keys: async (options: Parameters<RegionStoreClient['scan']>[0]) =>
        (await client.scan(options)).map((e) => e.key.toString()).join(''),
    };
  };
  afterAll(async () => {
    for (const client of clients) await client.close();
    for (const cluster of clusters) await cluster.app.close();
  });

  it('pages through every region in order, either way, with routes from before a split', async () => {
    for (const pageSize of [1, 3, 100]) {
      expect(await (await scanOf(SPLIT, BEFORE_SPLIT)).keys({ pageSize })).toBe(KEYS.join(''));
      expect(await (await scanOf(SPLIT, BEFORE_SPLIT)).keys({ pageSize, reverse: true })).toBe(
        [...KEYS].reverse().join(''),
      );
    }
  });

  it('honours bounds and limits across the regions, and answers an empty or inverted range with nothing', async () => {
    const { keys } = await scanOf(SPLIT, BEFORE_SPLIT);
    expect(await keys({ start: 'c', end: 'r', pageSize: 4 })).toBe('cdefghijklmnopq');
    expect(await keys({ start: 'c', end: 'r', reverse: true, limit: 8, pageSize: 3 })).toBe('qponmlkj');
    expect(await keys({ start: 'g', end: 'i', reverse: true })).toBe('hg');
    expect(await keys({ start: 'k', end: 'k' })).toBe('');
    expect(await keys({ start: 'q', end: 'c' })).toBe('');
  });

  it('goes on past a region the routes name narrower than the node (a merge since) without repeating keys', async () => {
    const stale: Regions = { '1:1': ['', 'h'], '1:2': ['h', 'p'], '1:3': ['p', ''] };
    for (const legacy of [false, true]) {
      for (const pageSize of [5, 100]) {
        expect(await (await scanOf(MERGED, stale, legacy)).keys({ pageSize })).toBe(KEYS.join(''));
        expect(await (await scanOf(MERGED, stale, legacy)).keys({ pageSize, reverse: true })).toBe(
          [...KEYS].reverse().join(''),
        );
      }
    }
  });

  it('asks a refused part again of the region the refreshed routes name', async () => {
    const { cluster, keys } = await scanOf(SPLIT, BEFORE_SPLIT);
    expect(await keys({ start: 'i', end: 'k' })).toBe('ij');
    expect(cluster.asked).toEqual(['1:1 i..k', '1:2 i..k']);
  });
});
