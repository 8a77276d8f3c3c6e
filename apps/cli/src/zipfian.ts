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

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 1099511628211n;
const MASK = (1n << 64n) - 1n;

/** YCSB's `fnvhash64`: FNV-1 over the value's 8 bytes, least significant first, made non-negative. */
export function fnvhash64(value: number): bigint {
  let v = BigInt(value);
  let hash = FNV_OFFSET;
  for (let i = 0; i < 8; i++) {
    hash ^= v & 0xffn;
    hash = (hash * FNV_PRIME) & MASK;
    v >>= 8n;
  }
  // Java's Math.abs of the signed 64-bit value.
  return hash >= 1n << 63n ? (1n << 64n) - hash : hash;
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
    return Number(fnvhash64(this.zipfian.next()) % BigInt(this.items));
  }
}
