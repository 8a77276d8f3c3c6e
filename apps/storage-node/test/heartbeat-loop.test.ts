import { ManualTimeProvider } from '@regionstore/core';
import { silentLogger } from '@regionstore/runtime';
import type { Queue } from 'bullmq';
import { HeartbeatLoop } from '../src/heartbeat';

/** Counts what the loop sends; the queue itself is not this test's subject (assembly.test.ts sends to Redis). */
function countingQueue() {
  const sent: number[] = [];
  const time = new ManualTimeProvider(1000);
  const queue = { add: async () => sent.push(time.now()), close: async () => undefined };
  return { sent, time, queue: queue as unknown as Queue };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('HeartbeatLoop', () => {
  it('beats every interval, and sooner when a region starts leading (beatSoon)', async () => {
    const { sent, time, queue } = countingQueue();
    const loop = new HeartbeatLoop(
      queue,
      500,
      async () => ({
        nodeId: 'n1',
        address: 'http://127.0.0.1:1',
        timestampMs: time.now(),
        regions: [],
        opening: [],
      }),
      time,
      silentLogger(),
    );
    loop.start();
    try {
      await settle();
      expect(sent).toEqual([1000]);
      await time.advance(100);
      expect(sent).toEqual([1000]);
      await time.advance(400);
      expect(sent).toEqual([1000, 1500]);
      loop.beatSoon(100);
      await time.advance(100);
      await settle();
      expect(sent).toEqual([1000, 1500, 1600]);
      // Then back to the interval.
      await time.advance(400);
      expect(sent).toEqual([1000, 1500, 1600]);
      await time.advance(100);
      expect(sent).toEqual([1000, 1500, 1600, 2100]);
    } finally {
      await loop.close();
    }
  });
});
