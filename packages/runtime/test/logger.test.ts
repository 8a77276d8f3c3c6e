import { Writable } from 'node:stream';
import { RegionId } from '@regionstore/core';
import { createLogger, regionLogger } from '@regionstore/runtime';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
  };
}

describe('logger', () => {
  it('writes JSON with bound ids and redacts secrets', () => {
    const out = capture();
    const logger = createLogger(
      { name: 'storage-node', bindings: { nodeId: 'n1' }, level: 'info' },
      out.stream,
    );
    const child = regionLogger(logger, new RegionId(1, 2)).child({ jobId: 'j-9' });
    child.info(
      { token: 'sekret', s3: { secretAccessKey: 'aws-secret' }, headers: { authorization: 'Bearer x' } },
      'hello',
    );
    const [line] = out.lines();
    expect(line).toMatchObject({
      name: 'storage-node',
      nodeId: 'n1',
      regionId: '1:2',
      jobId: 'j-9',
      msg: 'hello',
      token: '[redacted]',
      s3: { secretAccessKey: '[redacted]' },
      headers: { authorization: '[redacted]' },
    });
    expect(JSON.stringify(line)).not.toContain('sekret');
    expect(JSON.stringify(line)).not.toContain('aws-secret');
  });

  it('honours the level', () => {
    const out = capture();
    const logger = createLogger({ level: 'warn' }, out.stream);
    logger.info('hidden');
    logger.warn('shown');
    expect(out.lines().map((l) => l.msg)).toEqual(['shown']);
  });
});
