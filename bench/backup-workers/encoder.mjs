// A worker thread of the thread variant: receives one range's entries from the main thread (which owns
// the RocksDB handle and scans), encodes them into an .rsst file (blocks, compression, CRC, sha256) and
// writes it to the storage. It acknowledges each batch so the main thread never runs far ahead.
import { parentPort } from 'node:worker_threads';
import { Channel } from '@regionstore/core';
import { writeSnapshotFile } from '@regionstore/region-files';
import { createStorage } from '@regionstore/storage-backends';

const files = new Map();

async function* entriesOf(channel) {
  for (;;) {
    const batch = await channel.recv();
    if (batch === undefined) return;
    const packed = Buffer.from(batch.packed.buffer, batch.packed.byteOffset, batch.packed.byteLength);
    for (let at = 0; at < packed.length;) {
      const keyLength = packed.readUInt32BE(at);
      const key = packed.subarray(at + 4, at + 4 + keyLength);
      at += 4 + keyLength;
      const valueLength = packed.readUInt32BE(at);
      const value = packed.subarray(at + 4, at + 4 + valueLength);
      at += 4 + valueLength;
      yield { key, value };
    }
    parentPort.postMessage({ type: 'ack', id: batch.id });
  }
}

parentPort.on('message', (message) => {
  if (message.type === 'file') {
    const channel = new Channel(4, 'encoder input');
    files.set(message.id, channel);
    const file = writeSnapshotFile(entriesOf(channel), { compression: message.compression });
    createStorage(message.storage)
      .write(message.name, file.stream)
      .then(async ({ size }) => {
        const info = await file.info;
        parentPort.postMessage({
          type: 'done',
          id: message.id,
          size,
          kvCount: info.kvCount,
          sha256: info.sha256,
        });
      })
      .catch((err) => parentPort.postMessage({ type: 'error', id: message.id, message: err.message }));
  } else if (message.type === 'entries') {
    void files.get(message.id).send(message);
  } else if (message.type === 'end') {
    files.get(message.id).close();
    files.delete(message.id);
  }
});
