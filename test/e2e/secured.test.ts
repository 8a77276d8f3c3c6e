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
      expect(head).toMatch(/www-authenticate: Bearer/i);
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
});
