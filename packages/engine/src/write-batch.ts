import { InvalidArgumentError, compareKeys } from '@regionstore/core';
import { checkCf, type CfName } from './cf';

export type WriteOp =
  | { type: 'put'; cf: CfName; key: Buffer; value: Buffer }
  | { type: 'delete'; cf: CfName; key: Buffer }
  | { type: 'deleteRange'; cf: CfName; start: Buffer; end: Buffer };

/**
 * Operations across column families that the engine applies atomically: either every one is visible
 * or none is. CF names and ranges are checked when an operation is added, so a bad batch fails before
 * anything reaches RocksDB.
 */
export class WriteBatch {
  readonly ops: WriteOp[] = [];
  private bytes = 0;

  put(cf: string, key: Buffer, value: Buffer): this {
    this.ops.push({ type: 'put', cf: checkCf(cf), key, value });
    this.bytes += key.length + value.length;
    return this;
  }

  delete(cf: string, key: Buffer): this {
    this.ops.push({ type: 'delete', cf: checkCf(cf), key });
    this.bytes += key.length;
    return this;
  }

  /** Deletes `[start, end)`; both bounds are required here (the engine resolves unbounded ends). */
  deleteRange(cf: string, start: Buffer, end: Buffer): this {
    if (compareKeys(start, end) >= 0) {
      throw new InvalidArgumentError('deleteRange needs start < end', {
        start: start.toString('hex'),
        end: end.toString('hex'),
      });
    }
    this.ops.push({ type: 'deleteRange', cf: checkCf(cf), start, end });
    this.bytes += start.length + end.length;
    return this;
  }

  get count(): number {
    return this.ops.length;
  }

  /** Keys plus values, the size the write buffer accounting uses. */
  get dataSize(): number {
    return this.bytes;
  }

  isEmpty(): boolean {
    return this.ops.length === 0;
  }
}
