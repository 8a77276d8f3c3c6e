import { RegionId, keyRange } from '@regionstore/core';
import { silentLogger } from '@regionstore/runtime';
import type { SupervisorService } from '@regionstore/supervisor';
import { useRedisNamespace } from '@regionstore/testing';
import { ClusterStore } from '../src/cluster-store';
import { HeartbeatIntake } from '../src/heartbeat-intake';
import { RedisLogStore } from '@regionstore/log-store';
import type { NodeTaskClient } from '../src/node-client';
import type { RegionLeaseGrants } from '../src/region-leases';

const ns = useRedisNamespace('heartbeat-intake');
const EPOCH = { version: 1, confVer: 1 };

/** An intake over a real route store; node calls are recorded, leases and the supervisor are inert. */
async function setup(prefix: string, beforeRecheck?: (store: ClusterStore) => Promise<void>) {
  const redis = await ns.connect();
  const store = new ClusterStore(redis, `${ns.prefix}-${prefix}`, 3000, () => Date.now());
  const wal = new RedisLogStore(redis, { prefix: `${ns.prefix}-${prefix}` });
  const calls: string[] = [];
  /** The regions whose failure detectors the heartbeats fed. */
  const fed: string[] = [];
  /** What the supervisor was told of each region's size and versions. */
  const stats: unknown[] = [];
  const clocks: Array<[string, number]> = [];
  let rechecks = 0;
  // The re-read a repair makes before it acts; `beforeRecheck` changes the routes just before it.
  const rereading = Object.create(store) as ClusterStore;
  rereading.get = async (regionId) => {
    await beforeRecheck?.(store);
    rechecks++;
    return store.get(regionId);
  };
  const intake = new HeartbeatIntake({
    store: rereading,
    supervisor: {
      migrations: { isMigrating: () => false },
      recordRegionStats: (told: unknown[]) => void stats.push(...told),
      heartbeats: {
        accept: async (beat: { regions: RegionId[] }) => {
          fed.push(...beat.regions.map((id) => id.toString()));
        },
      },
    } as unknown as SupervisorService,
    nodes: {
      call: async (node: string, name: string, payload: { regionId: RegionId }) => {
        calls.push(`${name} ${node} ${payload.regionId.toString()}`);
        return {};
      },
      openCandidate: async (peer: { id: string }, region: { regionId: RegionId }) => {
        calls.push(`open-candidate ${peer.id} ${region.regionId.toString()}`);
      },
    } as unknown as NodeTaskClient,
    leases: {
      begin: () => ({}),
      grant: async () => undefined,
      end: () => undefined,
    } as unknown as RegionLeaseGrants,
    logger: silentLogger(),
    repairIntervalMs: 1000,
    nodeClocks: { heard: (nodeId, nodeNowMs) => void clocks.push([nodeId, nodeNowMs]) },
    walRetired: async (regionId) => (await wal.position(regionId)).retired === true,
  });
  const region = new RegionId(1, 0);
  await store.put({
    regionId: region,
    range: keyRange('', ''),
    leader: 'node-b',
    epoch: EPOCH,
    state: 'Normal',
  });
  /** node-a says it leads the region at `epoch` (default: the route's region). */
  const leaderBeats = (epoch = EPOCH, regionId = region, sizes = { bytes: 0, keys: 0 }) =>
    intake.accept({
      nodeId: 'node-a',
      address: 'http://node-a',
      timestampMs: Date.now(),
      regions: [
        {
          regionId,
          role: 'leader',
          epoch,
          approximateSizeBytes: sizes.bytes,
          approximateKeys: sizes.keys,
          writtenBytesSinceFlush: 0,
          lastEntryId: 3,
        },
      ],
      opening: [],
    });
  /** …which the route gives to node-b. */
  const staleLeaderBeats = () => leaderBeats();
  const repaired = async () => {
    for (let i = 0; i < 100 && rechecks === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50)); // the action, if any, follows the re-read
    return calls;
  };
  return { region, store, wal, fed, stats, clocks, leaderBeats, staleLeaderBeats, repaired };
}

describe('HeartbeatIntake', () => {
  it('tells the supervisor the size and versions its leader reports of each region the route gives it', async () => {
    const { region, store, stats, clocks, leaderBeats } = await setup('stats');
    await store.update(region, { leader: 'node-a' });
    await leaderBeats(EPOCH, region, { bytes: 4096, keys: 120 });
    expect(stats).toEqual([{ regionId: region, bytes: 4096, keys: 120 }]);
    // and the GC safepoint of the node's clock, as the heartbeat says it was built
    expect(clocks).toEqual([['node-a', expect.any(Number)]]);
  });
});

describe('HeartbeatIntake repairs', () => {
  it('closes a copy on a node the route does not name, after reading the route again', async () => {
    const { region, staleLeaderBeats, repaired } = await setup('close');
    await staleLeaderBeats();
    expect(await repaired()).toEqual([`close-region node-a ${region.toString()}`]);
  });

  it('does nothing when the route changed between the heartbeat and the repair (a split ended meanwhile)', async () => {
    const { staleLeaderBeats, repaired } = await setup('changed', async (store) => {
      await store.update(new RegionId(1, 0), { epoch: { version: 2, confVer: 1 } });
    });
    await staleLeaderBeats();
    expect(await repaired()).toEqual([]);
  });

  it('opens a region again on its routed leader when the leader holds it at an older placement', async () => {
    const { region, store, fed, leaderBeats, repaired } = await setup('behind');
    // A split's verdict moved the fence (and the route) one placement on, still naming node-a.
    await store.update(region, { leader: 'node-a', epoch: { version: 1, confVer: 2 } });
    await leaderBeats(EPOCH);
    expect(await repaired()).toEqual([`open-region node-a ${region.toString()}`]);
    // Nor does it keep the region's failure detector alive: should it never reopen, a failover moves on.
    expect(fed).toEqual([]);
  });

  it('closes a copy no route names once its WAL is retired, and only then', async () => {
    const { wal, leaderBeats, repaired } = await setup('routeless');
    // A split's child that its procedure abandoned: no route, the node still has it open.
    const child = new RegionId(1, 7);
    await wal.setFence(child, { nodeId: 'node-a', epoch: 2 });
    await leaderBeats(EPOCH, child);
    // Fenced but not retired: maybe a child whose routes are still to come. Left alone.
    expect(await repaired()).toEqual([]);
    await wal.retire(child);
    await new Promise((r) => setTimeout(r, 1000)); // one repair per node and region per second
    await leaderBeats(EPOCH, child);
    await new Promise((r) => setTimeout(r, 100));
    expect(await repaired()).toEqual([`close-region node-a ${child.toString()}`]);
  });
});
