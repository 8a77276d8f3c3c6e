import { RegionStoreClient } from '@regionstore/client';
import { useCluster } from './cluster';

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
});
