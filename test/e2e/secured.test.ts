import { RegionStoreClient } from '@regionstore/client';
import { useCluster } from './cluster';
import { pathVariants, rawRequest } from './raw-http';

const clusters = useCluster('e2e-secured');
const TOKEN = 'e2e-shared-cluster-token';

describe('a cluster with a token', () => {
  it('refuses data and admin calls without it, and serves them with it', async () => {
    const cluster = await clusters.start({ nodes: 1, initialRegions: 2, token: TOKEN });
    const key = Buffer.from('secret-key');

    const stranger = new RegionStoreClient({ metasrv: cluster.metasrvUrl, retryTimeoutMs: 2000 });
    // routes are public, as on any metasrv; the data behind them is not
    expect((await stranger.routes()).length).toBe(2);
    await expect(stranger.put(key, Buffer.from('x'))).rejects.toMatchObject({ code: 'Unauthorized' });
    await expect(stranger.get(key)).rejects.toMatchObject({ code: 'Unauthorized' });
    await expect(stranger.status()).rejects.toMatchObject({ code: 'Unauthorized' });
    const wrong = new RegionStoreClient({ metasrv: cluster.metasrvUrl, token: 'not-the-token' });
    await expect(wrong.get(key)).rejects.toMatchObject({ code: 'Unauthorized' });

    const member = new RegionStoreClient({ metasrv: cluster.metasrvUrl, token: TOKEN });
    await member.put(key, Buffer.from('value'));
    expect((await member.get(key))?.toString()).toBe('value');
    expect(await member.status()).toMatchObject({ leader: 'metasrv-1', nodes: [{ state: 'alive' }] });
    await cluster.stop();
  });

  it('decides on the route the server matched, so no spelling of a protected path gets past the token', async () => {
    const cluster = await clusters.start({ nodes: 1, initialRegions: 1, token: TOKEN });
    const metasrv = new URL(cluster.metasrvUrl);
    const node = (await cluster.routes())[0]!.address;
    const write = JSON.stringify({
      regionId: '1:0',
      mutations: [{ op: 'put', key: Buffer.from('sneaky').toString('base64'), value: 'eA==' }],
    });
    const attempts: Array<[string, string, string, string | undefined]> = [
      ...pathVariants('/admin/maintenance', metasrv.host).map(
        (p) => [cluster.metasrvUrl, 'POST', p, '{"enabled":true}'] as [string, string, string, string],
      ),
      ...pathVariants('/admin/status', metasrv.host).map(
        (p) => [cluster.metasrvUrl, 'GET', p, undefined] as [string, string, string, undefined],
      ),
      ...pathVariants('/admin/queues', metasrv.host).map(
        (p) => [cluster.metasrvUrl, 'GET', p, undefined] as [string, string, string, undefined],
      ),
      ...pathVariants('/v1/write', new URL(node).host).map(
        (p) => [node, 'POST', p, write] as [string, string, string, string],
      ),
    ];
    for (const [server, method, target, body] of attempts) {
      const { status, head } = await rawRequest(server, method, target, body);
      expect([`${method} ${target}`, status]).toEqual([`${method} ${target}`, 401]);
      // Bull Board's routes ask a browser for Basic auth; everything else for a bearer token.
      expect(head).toMatch(
        target.includes('queues') ? /www-authenticate: (Basic|Bearer)/i : /www-authenticate: Bearer/i,
      );
    }
    // nothing got through: maintenance is off and the key was never written
    const member = new RegionStoreClient({ metasrv: cluster.metasrvUrl, token: TOKEN });
    expect(await member.admin('/admin/status')).toMatchObject({ maintenance: false });
    expect(await member.get(Buffer.from('sneaky'))).toBeUndefined();
    // the public routes stay public
    expect((await rawRequest(cluster.metasrvUrl, 'GET', '/v1/routes')).status).toBe(200);
    expect((await rawRequest(node, 'GET', '/health')).status).toBe(200);
    await cluster.stop();
  });

  it('lets a browser into Bull Board with Basic auth (the token as password), and nowhere else', async () => {
    const cluster = await clusters.start({ nodes: 1, initialRegions: 1, token: TOKEN });
    const m = cluster.metasrvUrl;
    const basic = (password: string) => ({
      authorization: `Basic ${Buffer.from(`operator:${password}`).toString('base64')}`,
    });
    const anonymous = await fetch(`${m}/admin/queues/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm="regionstore"/); // a login prompt
    expect((await fetch(`${m}/admin/queues/`, { headers: basic('wrong-password') })).status).toBe(401);

    const page = await fetch(`${m}/admin/queues/`, { headers: basic(TOKEN) });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    // the board's own API calls carry the same credentials (a browser resends them)
    const api = await fetch(`${m}/admin/queues/api/queues?page=1&jobsPerPage=10`, { headers: basic(TOKEN) });
    expect(api.status).toBe(200);
    expect(((await api.json()) as { queues: Array<{ name: string }> }).queues.map((q) => q.name)).toContain(
      'metasrv',
    );
    // Basic auth opens the board only: the admin API still wants the bearer token
    const status = await fetch(`${m}/admin/status`, { headers: basic(TOKEN) });
    expect(status.status).toBe(401);
    expect(status.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await cluster.stop();
  });
});
