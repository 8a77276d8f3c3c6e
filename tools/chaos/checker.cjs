// The checker of the chaos harness: reads a history of operations on single-writer registers and
// reports every anomaly.
//
// Each key has one writer, whose writes are sequential and carry increasing sequence numbers
// (`<key>:<seq>`), so the order of a key's writes is known. Reads may run on any client at any time;
// a scan counts as a read of each key of its span (nothing for a key it skipped), each taken at some
// moment of the scan, so each is checked as a read spanning the whole scan.
// For such a register, linearizability is the conjunction of four checks (Lamport's atomic register:
// regular, with no new/old inversion):
//   - phantom: a read returns a value no write of that key ever carried;
//   - future:  a read returns a write that began only after the read had ended;
//   - stale:   a read returns a value older than a write acknowledged before the read began;
//   - inversion: a read returns an older value than a read that ended before it began.
// A lost write is a stale final read: the value read after the run, once every fault has healed, is
// older than the last acknowledged write. A final read that fails leaves its key unchecked: the run
// reports it as unreadable (a region that never served again).
'use strict';

/** `k<index>:<seq>` → {key, seq}; anything else is undefined. */
function parseValue(value) {
  const match = /^(k\d+):(\d+)$/.exec(value);
  return match ? { key: match[1], seq: Number(match[2]) } : undefined;
}

function groupByKey(history) {
  const keys = new Map();
  for (const op of history) {
    if (op.type === 'scan') continue; // a failed scan: it read nothing
    let entry = keys.get(op.key);
    if (!entry) keys.set(op.key, (entry = { writes: new Map(), reads: [] }));
    if (op.type === 'write') entry.writes.set(op.seq, op);
    else if (op.outcome === 'ok') entry.reads.push(op);
  }
  return keys;
}

/**
 * @param {Array<{type: 'write'|'read', key: string, seq?: number, value?: string|null, invoke: number,
 *   complete: number, outcome: 'ok'|'fail'|'unknown', final?: boolean}>} history
 * @returns {{lost: object[], stale: object[], phantom: object[], future: object[], inversion: object[],
 *   unreadable: object[], counts: object}} (`counts.unknownBy`: unknown writes by their error)
 */
function check(history) {
  const found = { lost: [], stale: [], phantom: [], future: [], inversion: [], unreadable: [] };
  const counts = {
    writes: 0,
    acknowledged: 0,
    unknownWrites: 0,
    reads: 0,
    failedReads: 0,
    failedScans: 0,
    keys: 0,
  };
  /** Unknown writes by the error they ended with. */
  const unknownBy = {};
  for (const op of history) {
    if (op.type === 'scan') {
      counts.failedScans++;
    } else if (op.type === 'write') {
      counts.writes++;
      if (op.outcome === 'ok') counts.acknowledged++;
      else {
        counts.unknownWrites++;
        const error = op.error ?? 'unrecorded';
        unknownBy[error] = (unknownBy[error] ?? 0) + 1;
      }
    } else if (op.outcome === 'ok') counts.reads++;
    else {
      counts.failedReads++;
      if (op.final) found.unreadable.push({ key: op.key, read: op });
    }
  }
  const keys = groupByKey(history);
  counts.keys = keys.size;
  for (const [key, { writes, reads }] of keys) {
    // The acknowledged writes by completion time, with the highest seq acknowledged so far.
    const acked = [...writes.values()]
      .filter((w) => w.outcome === 'ok')
      .sort((a, b) => a.complete - b.complete);
    const ackedBefore = (time) => {
      let best = 0;
      for (const w of acked) {
        if (w.complete >= time) break;
        best = Math.max(best, w.seq);
      }
      return best;
    };
    const seen = [];
    for (const read of reads) {
      let seq = 0;
      if (read.value !== null && read.value !== undefined) {
        const parsed = parseValue(read.value);
        const write = parsed && parsed.key === key ? writes.get(parsed.seq) : undefined;
        if (!write) {
          found.phantom.push({ key, read });
          continue;
        }
        if (write.invoke > read.complete) found.future.push({ key, read, write });
        seq = parsed.seq;
      }
      const expected = ackedBefore(read.invoke);
      if (seq < expected) (read.final ? found.lost : found.stale).push({ key, read, seq, expected });
      seen.push({ read, seq });
    }
    // New/old inversion: sweep reads by start, keeping the highest value of reads already ended.
    const byEnd = [...seen].sort((a, b) => a.read.complete - b.read.complete);
    const byStart = [...seen].sort((a, b) => a.read.invoke - b.read.invoke);
    let ended = 0;
    let highest = { seq: 0, read: undefined };
    for (const current of byStart) {
      while (ended < byEnd.length && byEnd[ended].read.complete < current.read.invoke) {
        if (byEnd[ended].seq > highest.seq) highest = byEnd[ended];
        ended++;
      }
      if (current.seq < highest.seq) {
        found.inversion.push({
          key,
          read: current.read,
          seq: current.seq,
          earlier: highest.read,
          earlierSeq: highest.seq,
        });
      }
    }
  }
  return { ...found, counts: { ...counts, unknownBy } };
}

module.exports = { check, parseValue };
