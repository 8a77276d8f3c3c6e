// Counterparts of the seed's tests (greptime-metasrv-region-supervisor.rs): test_heartbeat,
// test_supervisor_ticker, test_region_failure_detector_controller.
import { RegionId, type Channel } from '@regionstore/core';
import {
  HeartbeatAcceptor,
  RegionFailureDetectorControl,
  RegionSupervisor,
  RegionSupervisorTicker,
  type DatanodeHeartbeat,
  type RegionFailureDetector,
  type SupervisorEvent,
} from '@regionstore/supervisor';

function newTestSupervisor(): { supervisor: RegionSupervisor; channel: Channel<SupervisorEvent> } {
  const channel = RegionSupervisor.channel();
  const supervisor = new RegionSupervisor({
    channel,
    selector: { select: async () => [{ id: '1', address: 'http://127.0.0.1:1' }] },
    migrations: { submit: async () => undefined, isMigrating: () => false },
    maintenance: { isEnabled: async () => false },
    peers: { node: async () => undefined },
  });
  return { supervisor, channel };
}

async function dump(channel: Channel<SupervisorEvent>): Promise<RegionFailureDetector> {
  return new Promise((reply) => void channel.send({ type: 'Dump', reply }));
}

describe('seed: test_heartbeat', () => {
  it('tracks heartbeats per (node, region); phi is 0 through the pause and crosses the threshold 1-2 s after', async () => {
    const { supervisor, channel } = newTestSupervisor();
    const running = supervisor.run();

    await new HeartbeatAcceptor(channel).accept({
      nodeId: '0',
      regions: [new RegionId(1, 1)],
      timestampMs: 100,
    });
    expect((await dump(channel)).contains({ nodeId: '0', regionId: new RegionId(1, 1) })).toBe(true);
    await channel.send({ type: 'Clear' });
    expect((await dump(channel)).isEmpty()).toBe(true);

    const start = Date.now();
    const heartbeats: DatanodeHeartbeat[] = Array.from({ length: 2000 }, (_, i) => ({
      nodeId: '100',
      regions: [1, 2, 3].map((n) => new RegionId(0, n)),
      timestampMs: start + i * 1000 + Math.floor(Math.random() * 100),
    }));
    const last = heartbeats[heartbeats.length - 1]!.timestampMs;
    for (const heartbeat of heartbeats) await channel.send({ type: 'HeartbeatArrived', heartbeat });

    const detectors = await dump(channel);
    expect(detectors.len).toBe(3);
    for (const { detector } of detectors) {
      const pause = detector.acceptableHeartbeatPauseMillis;
      for (let i = 1; i <= pause / 1000; i++) expect(detector.phi(last + i * 1000)).toBe(0);
      expect(detector.phi(last + pause + 1000)).toBeLessThan(detector.threshold);
      expect(detector.phi(last + pause + 2000)).toBeGreaterThan(detector.threshold);
    }
    channel.close();
    await running;
  });
});

describe('seed: test_supervisor_ticker', () => {
  it('sends only Clear and Tick, and starting twice is harmless', async () => {
    const channel = RegionSupervisor.channel();
    const ticker = new RegionSupervisorTicker(channel, 10);
    for (let round = 0; round < 2; round++) {
      ticker.start();
      ticker.start();
      await new Promise((r) => setTimeout(r, 100));
      ticker.stop();
      const events = channel.drain();
      expect(events.length).toBeGreaterThan(1);
      expect(events[0]!.type).toBe('Clear');
      // A doubled start would have sent a second Clear.
      expect(events.filter((e) => e.type === 'Clear')).toHaveLength(1);
      expect(events.every((e) => e.type === 'Tick' || e.type === 'Clear')).toBe(true);
    }
    await new Promise((r) => setTimeout(r, 30));
    expect(channel.drain()).toEqual([]);
  });
});

describe('seed: test_region_failure_detector_controller', () => {
  it('registering twice keeps the same detector; deregistering empties', async () => {
    const { supervisor, channel } = newTestSupervisor();
    const controller = new RegionFailureDetectorControl(channel);
    const running = supervisor.run();
    const region = { nodeId: '1', regionId: new RegionId(1, 1) };

    await controller.registerFailureDetectors([region]);
    const first = (await dump(channel)).regionFailureDetector(region);
    const live = supervisor.detectors.regionFailureDetector(region);
    await new Promise((r) => setTimeout(r, 5));
    await controller.registerFailureDetectors([region]);
    const second = (await dump(channel)).regionFailureDetector(region);
    expect(second.lastHeartbeat).toBe(first.lastHeartbeat);
    expect(second.phi(Date.now() + 5000)).toBe(first.phi(Date.now() + 5000));
    expect(supervisor.detectors.regionFailureDetector(region)).toBe(live);

    // phi per node, read through the supervisor's loop: the worst of the node's regions.
    const other = { nodeId: '1', regionId: new RegionId(1, 2) };
    await controller.registerFailureDetectors([other, { nodeId: '2', regionId: new RegionId(1, 3) }]);
    const later = Date.now() + 120_000;
    const phi = await controller.phiByNode(later);
    expect([...phi.keys()].sort()).toEqual(['1', '2']);
    expect(phi.get('1')).toBe(
      Math.max(
        supervisor.detectors.regionFailureDetector(region).phi(later),
        supervisor.detectors.regionFailureDetector(other).phi(later),
      ),
    );
    expect(phi.get('1')).toBeGreaterThan(0);

    await controller.deregisterFailureDetectors([
      region,
      other,
      { nodeId: '2', regionId: new RegionId(1, 3) },
    ]);
    expect((await dump(channel)).isEmpty()).toBe(true);
    expect((await controller.phiByNode(Date.now())).size).toBe(0);
    channel.close();
    await running;
  });
});
