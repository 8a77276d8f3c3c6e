import { InvalidArgumentError } from './errors';

const U32_MAX = 0xffff_ffff;
const U64_MAX = (1n << 64n) - 1n;

function checkU32(what: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) {
    throw new InvalidArgumentError(`${what} must be an integer in [0, ${U32_MAX}], got ${value}`, {
      [what]: value,
    });
  }
}

/**
 * A region's 64-bit id: the table id in the high 32 bits and the region number in the low 32 bits,
 * as GreptimeDB lays it out. The value is a bigint so ids above 2^53 survive every conversion.
 */
export class RegionId {
  readonly tableId: number;
  readonly regionNumber: number;

  constructor(tableId: number, regionNumber: number) {
    checkU32('tableId', tableId);
    checkU32('regionNumber', regionNumber);
    this.tableId = tableId;
    this.regionNumber = regionNumber;
  }

  /** The packed 64-bit value. */
  get value(): bigint {
    return (BigInt(this.tableId) << 32n) | BigInt(this.regionNumber);
  }

  static fromBigInt(value: bigint): RegionId {
    if (value < 0n || value > U64_MAX) {
      throw new InvalidArgumentError(`region id ${value} does not fit in 64 unsigned bits`, {
        value: value.toString(),
      });
    }
    return new RegionId(Number(value >> 32n), Number(value & 0xffff_ffffn));
  }

  /** Accepts `tableId:regionNumber` or the packed value as a decimal string. */
  static parse(text: string): RegionId {
    const pair = /^(\d{1,10}):(\d{1,10})$/.exec(text);
    if (pair) return new RegionId(Number(pair[1]), Number(pair[2]));
    if (/^\d{1,20}$/.test(text)) return RegionId.fromBigInt(BigInt(text));
    throw new InvalidArgumentError(
      `invalid region id '${text}': expected 'tableId:regionNumber' or a 64-bit decimal`,
      { text },
    );
  }

  equals(other: RegionId): boolean {
    return this.tableId === other.tableId && this.regionNumber === other.regionNumber;
  }

  compare(other: RegionId): number {
    return this.tableId - other.tableId || this.regionNumber - other.regionNumber;
  }

  /** `tableId:regionNumber`, also used as a map key and in queue payloads. */
  toString(): string {
    return `${this.tableId}:${this.regionNumber}`;
  }

  toJSON(): string {
    return this.toString();
  }
}
