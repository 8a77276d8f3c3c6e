import { Channel } from '@regionstore/core';

describe('Channel', () => {
  it('blocks senders at capacity and releases them in order as the consumer reads', async () => {
    const channel = new Channel<number>(2, 'test channel');
    await channel.send(1);
    await channel.send(2);
    let thirdSent = false;
    const third = channel.send(3).then(() => {
      thirdSent = true;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(thirdSent).toBe(false);
    expect(await channel.recv()).toBe(1);
    await third;
    expect([await channel.recv(), await channel.recv()]).toEqual([2, 3]);
    channel.close();
    expect(await channel.recv()).toBeUndefined();
    await expect(channel.send(4)).rejects.toThrow('the test channel is closed');
  });

  it('readable waits for an item without taking it, and tryRecv takes without waiting', async () => {
    const channel = new Channel<string>(4);
    expect(channel.tryRecv()).toBeUndefined();
    const first = channel.readable();
    const second = channel.readable();
    expect(second).toBe(first); // one shared promise, however often the loop asks
    let woke = false;
    void first.then(() => (woke = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(woke).toBe(false);
    await channel.send('a');
    await first;
    expect(channel.size).toBe(1);
    await channel.readable(); // resolves at once while an item is queued
    expect(channel.tryRecv()).toBe('a');
    const closed = channel.readable();
    channel.close();
    await closed;
    expect(channel.isClosed).toBe(true);
  });

  it('hands an item straight to a waiting receiver', async () => {
    const channel = new Channel<number>(1);
    const received = channel.recv();
    await channel.send(7);
    expect(await received).toBe(7);
    expect(channel.size).toBe(0);
  });
});
