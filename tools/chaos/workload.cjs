// The clients of the chaos harness: writers that own keys and write unique, numbered values to them,
// readers that read any key, and scanners that scan a random span of keys in small pages, one way or
// the other (pages cross regions, and splits, merges and moves happen between them). Every operation
// is recorded with its invoke and complete times (on this process's monotonic clock) and its outcome;
// a scan as one read per key of its span over the scan's whole time, a key it did not return as a read
// of nothing.
'use strict';
const { performance } = require('node:perf_hooks');
const { RegionStoreClient } = require('@regionstore/client');

/** Key `k<i>` as bytes: its first byte spreads the keys evenly over the bootstrap regions. */
function keyBytes(i, keyCount) {
  return Buffer.concat([Buffer.from([Math.floor((i * 256) / keyCount)]), Buffer.from(`k${i}`)]);
}

class Workload {
  /**
   * @param {{metasrv: string, keys: number, writers: number, readers: number, scanners?: number,
   *   retryTimeoutMs?: number}} options
   */
  constructor(options) {
    this.options = options;
    this.history = [];
    this.seqs = new Map();
    this.running = false;
    this.loops = [];
  }

  client() {
    return new RegionStoreClient({
      metasrv: this.options.metasrv,
      retryTimeoutMs: this.options.retryTimeoutMs ?? 30_000,
    });
  }

  async record(op, action) {
    op.invoke = performance.now();
    try {
      await action(op);
      op.outcome = 'ok';
    } catch (err) {
      // A write whose request failed may still have landed: its outcome is unknown, never "failed".
      op.outcome = op.type === 'write' ? 'unknown' : 'fail';
      op.error = err && err.code ? err.code : String(err && err.message).slice(0, 120);
      // Whether the node could not tell (a re-sent write it cannot vouch for) or the Redis append's fate.
      const details = (err && err.details) || {};
      if (details.outcome === 'unknown') op.error += details.final ? ' (cannot tell)' : ' (outcome unknown)';
      // An unexpected failure: its message says where.
      if (op.error === 'Internal') op.error += `: ${String(err.message).slice(0, 100)}`;
    }
    op.complete = performance.now();
    this.history.push(op);
  }

  async writer(w) {
    const { keys, writers } = this.options;
    const owned = [];
    for (let i = w; i < keys; i += writers) owned.push(i);
    const client = this.client();
    while (this.running) {
      const i = owned[Math.floor(Math.random() * owned.length)];
      const key = `k${i}`;
      const seq = (this.seqs.get(key) ?? 0) + 1;
      this.seqs.set(key, seq);
      await this.record({ type: 'write', key, seq, value: `${key}:${seq}` }, () =>
        client.put(keyBytes(i, keys), Buffer.from(`${key}:${seq}`)),
      );
    }
  }

  async reader() {
    const { keys } = this.options;
    const client = this.client();
    while (this.running) {
      const i = Math.floor(Math.random() * keys);
      await this.record({ type: 'read', key: `k${i}` }, async (op) => {
        const value = await client.get(keyBytes(i, keys));
        op.value = value === undefined ? null : value.toString();
      });
    }
  }

  async scanner() {
    const { keys } = this.options;
    const client = this.client();
    const all = Array.from({ length: keys }, (_, i) => ({ key: `k${i}`, bytes: keyBytes(i, keys) }));
    const pick = () => all[Math.floor(Math.random() * keys)].bytes;
    while (this.running) {
      const [start, end] = [pick(), pick()].sort(Buffer.compare);
      const span = all.filter((k) => Buffer.compare(k.bytes, start) >= 0 && Buffer.compare(k.bytes, end) < 0);
      const invoke = performance.now();
      try {
        const pairs = await client.scan({
          start,
          end,
          reverse: Math.random() < 0.5,
          pageSize: 7,
          limit: keys,
        });
        const complete = performance.now();
        const got = new Map(pairs.map((p) => [p.key.toString('hex'), p.value.toString()]));
        for (const { key, bytes } of span) {
          const value = got.get(bytes.toString('hex')) ?? null;
          this.history.push({ type: 'read', key, value, invoke, complete, outcome: 'ok', scan: true });
        }
      } catch (err) {
        const error = err && err.code ? err.code : String(err && err.message).slice(0, 120);
        this.history.push({ type: 'scan', invoke, complete: performance.now(), outcome: 'fail', error });
      }
    }
  }

  start() {
    this.running = true;
    for (let w = 0; w < this.options.writers; w++) this.loops.push(this.writer(w));
    for (let r = 0; r < this.options.readers; r++) this.loops.push(this.reader());
    for (let s = 0; s < (this.options.scanners ?? 0); s++) this.loops.push(this.scanner());
  }

  /** Stops issuing operations and waits for those in flight. */
  async stop() {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  /**
   * Reads every key once more after the faults healed (all at once, so a region that never serves
   * again costs one retry timeout, not one per key); these reads decide what was lost.
   */
  async finalReads(retryTimeoutMs = 90_000) {
    const client = new RegionStoreClient({ metasrv: this.options.metasrv, retryTimeoutMs });
    await Promise.all(
      Array.from({ length: this.options.keys }, (_, i) =>
        this.record({ type: 'read', key: `k${i}`, final: true }, async (op) => {
          const value = await client.get(keyBytes(i, this.options.keys));
          op.value = value === undefined ? null : value.toString();
        }),
      ),
    );
  }
}

module.exports = { Workload, keyBytes };
