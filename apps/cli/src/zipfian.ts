/**
 * YCSB's key choosers, as YCSB and go-ycsb define them, so our figures compare with theirs: the
 * zipfian generator of Gray et al. ("Quickly generating billion-record synthetic databases", SIGMOD
 * 1994) with YCSB's constant 0.99, and its scrambled form, which spreads the popular items over the
 * key space with FNV-1 64. (The zipf packages on npm draw other distributions.)
 */
export const ZIPFIAN_CONSTANT = 0.99;

/** What YCSB's ScrambledZipfianGenerator draws from before it hashes: 10^10 items. */
const SCRAMBLED_ITEMS = 10_000_000_000;
/** zeta(10^10, 0.99), precomputed by YCSB (summing 10^10 terms here would take minutes). */
const SCRAMBLED_ZETAN = 26.46902820178302;

function zeta(n: number, theta: number): number {
  let sum = 0;
  for (let i = 1; i <= n; i++) sum += 1 / Math.pow(i, theta);
  return sum;
}

/** Integers in [0, items), item 0 the most popular. */
export class ZipfianGenerator {
  private readonly alpha: number;
  private readonly eta: number;
  private readonly zetan: number;
  private readonly theta = ZIPFIAN_CONSTANT;

  constructor(
    private readonly items: number,
    zetan?: number,
    private readonly random: () => number = Math.random,
  ) {
    this.zetan = zetan ?? zeta(items, this.theta);
    const zeta2 = zeta(2, this.theta);
    this.alpha = 1 / (1 - this.theta);
    this.eta = (1 - Math.pow(2 / items, 1 - this.theta)) / (1 - zeta2 / this.zetan);
  }

  next(): number {
    const u = this.random();
    const uz = u * this.zetan;
    if (uz < 1) return 0;
    if (uz < 1 + Math.pow(0.5, this.theta)) return 1;
    return Math.floor(this.items * Math.pow(this.eta * u - this.eta + 1, this.alpha));
  }
}

/** A 64-bit hash as its high and low 32 bits (bigint arithmetic costs ~30 µs a draw; this, ~0.1). */
export type Hash64 = readonly [hi: number, lo: number];

const TWO_32 = 2 ** 32;
/** FNV-1 64's offset basis, and its prime 2^40 + 0x1b3. */
const OFFSET_HI = 0xcbf29ce4;
const OFFSET_LO = 0x84222325;
const PRIME_LOW = 0x1b3;

/** YCSB's `fnvhash64`: FNV-1 over the value's 8 bytes, least significant first, made non-negative. */
export function fnvhash64(value: number): Hash64 {
  let hi = OFFSET_HI;
  let lo = OFFSET_LO;
  let rest = value;
  for (let i = 0; i < 8; i++) {
    lo = (lo ^ (rest % 256)) >>> 0;
    rest = Math.floor(rest / 256);
    // (hi·2^32 + lo) · (2^40 + 0x1b3) mod 2^64; every intermediate stays below 2^53.
    const low = lo * PRIME_LOW;
    hi = (hi * PRIME_LOW + Math.floor(low / TWO_32) + lo * 256) >>> 0;
    lo = low >>> 0;
  }
  if (hi < 2 ** 31) return [hi, lo];
  // Java's Math.abs of the signed value: its two's complement.
  const negLo = (~lo + 1) >>> 0;
  return [(~hi + (negLo === 0 ? 1 : 0)) >>> 0, negLo];
}

/** `hash mod n`, for n below 2^26. */
export function hashModulo([hi, lo]: Hash64, n: number): number {
  return ((hi % n) * (TWO_32 % n) + lo) % n;
}

export function hashHex([hi, lo]: Hash64): string {
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/** Integers in [0, items) with zipfian popularity, the popular ones scattered over the range. */
export class ScrambledZipfianGenerator {
  private readonly zipfian: ZipfianGenerator;

  constructor(
    private readonly items: number,
    random: () => number = Math.random,
  ) {
    this.zipfian = new ZipfianGenerator(SCRAMBLED_ITEMS, SCRAMBLED_ZETAN, random);
  }

  next(): number {
    return hashModulo(fnvhash64(this.zipfian.next()), this.items);
  }
}
