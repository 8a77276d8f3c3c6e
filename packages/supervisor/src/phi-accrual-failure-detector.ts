import { InvalidArgumentError } from '@regionstore/core';

export interface PhiAccrualFailureDetectorOptions {
  /** phi at or above which the monitored resource counts as failed. */
  threshold: number;
  /** Floor for the standard deviation, so very regular heartbeats do not make phi jumpy. */
  minStdDeviationMillis: number;
  /** Lost or late heartbeats tolerated before phi starts to rise (GC pauses, network blips). */
  acceptableHeartbeatPauseMillis: number;
  /** The interval assumed before any real one is known: the history is seeded with it. */
  firstHeartbeatEstimateMillis: number;
  /** How many intervals the sliding window keeps. */
  maxSampleSize: number;
}

/** GreptimeDB's defaults (the seed's tests are written against them). */
export const DEFAULT_PHI_OPTIONS: PhiAccrualFailureDetectorOptions = {
  threshold: 8,
  minStdDeviationMillis: 100,
  acceptableHeartbeatPauseMillis: 10_000,
  firstHeartbeatEstimateMillis: 1_000,
  maxSampleSize: 1_000,
};

/** A sliding window of heartbeat intervals with running sums for mean and variance. */
class HeartbeatHistory {
  private readonly intervals: number[] = [];
  private sum = 0;
  private squaredSum = 0;

  constructor(private readonly maxSampleSize: number) {}

  add(interval: number): void {
    if (this.intervals.length >= this.maxSampleSize) {
      const dropped = this.intervals.shift()!;
      this.sum -= dropped;
      this.squaredSum -= dropped * dropped;
    }
    this.intervals.push(interval);
    this.sum += interval;
    this.squaredSum += interval * interval;
  }

  get mean(): number {
    return this.sum / this.intervals.length;
  }

  get stdDeviation(): number {
    const mean = this.mean;
    return Math.sqrt(Math.max(0, this.squaredSum / this.intervals.length - mean * mean));
  }

  clone(): HeartbeatHistory {
    const copy = new HeartbeatHistory(this.maxSampleSize);
    copy.intervals.push(...this.intervals);
    copy.sum = this.sum;
    copy.squaredSum = this.squaredSum;
    return copy;
  }
}

/**
 * phi for a gap of `timeDiff` when intervals are normal with this mean and deviation: -log10 of the
 * probability that the next heartbeat is still to come, with the logistic approximation of the normal
 * CDF that Akka uses (error under 0.01 %).
 */
export function phiOf(timeDiff: number, mean: number, stdDeviation: number): number {
  const y = (timeDiff - mean) / stdDeviation;
  const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
  const phi = timeDiff > mean ? -Math.log10(e / (1 + e)) : -Math.log10(1 - 1 / (1 + e));
  // -log10(1) is -0; callers compare with 0 and print it.
  return phi === 0 ? 0 : phi;
}

/**
 * The phi accrual failure detector (Hayashibara et al., as implemented in Akka and GreptimeDB). Instead
 * of a yes/no timeout it reports a suspicion level phi that grows with the time since the last heartbeat,
 * scaled by how regular heartbeats have been.
 */
export class PhiAccrualFailureDetector {
  readonly options: PhiAccrualFailureDetectorOptions;
  private history: HeartbeatHistory;
  private lastHeartbeatMillis: number | undefined;

  constructor(options: Partial<PhiAccrualFailureDetectorOptions> = {}) {
    this.options = { ...DEFAULT_PHI_OPTIONS, ...options };
    const o = this.options;
    if (!(o.threshold > 0)) throw new InvalidArgumentError('threshold must be > 0');
    if (!(o.minStdDeviationMillis > 0)) throw new InvalidArgumentError('minStdDeviationMillis must be > 0');
    if (!(o.acceptableHeartbeatPauseMillis >= 0))
      throw new InvalidArgumentError('acceptableHeartbeatPauseMillis must be >= 0');
    if (!(o.firstHeartbeatEstimateMillis > 0))
      throw new InvalidArgumentError('firstHeartbeatEstimateMillis must be > 0');
    if (!(Number.isInteger(o.maxSampleSize) && o.maxSampleSize > 0))
      throw new InvalidArgumentError('maxSampleSize must be a positive integer');
    this.history = new HeartbeatHistory(o.maxSampleSize);
  }

  get threshold(): number {
    return this.options.threshold;
  }

  get acceptableHeartbeatPauseMillis(): number {
    return this.options.acceptableHeartbeatPauseMillis;
  }

  get lastHeartbeat(): number | undefined {
    return this.lastHeartbeatMillis;
  }

  /** Records a heartbeat at `tsMillis`; one older than the last is ignored. */
  heartbeat(tsMillis: number): void {
    const last = this.lastHeartbeatMillis;
    if (last === undefined) {
      // Seed the history with two guesses around the estimate, so a resource that sends one heartbeat
      // and dies still becomes unavailable.
      const mean = this.options.firstHeartbeatEstimateMillis;
      const deviation = mean / 4;
      this.history.add(mean - deviation);
      this.history.add(mean + deviation);
    } else {
      if (tsMillis < last) return;
      // A heartbeat after a failure-sized gap is not a sample of normal behaviour.
      if (this.isAvailable(tsMillis)) this.history.add(tsMillis - last);
    }
    this.lastHeartbeatMillis = tsMillis;
  }

  /** The suspicion level at `nowMillis`; 0 before the first heartbeat. */
  phi(nowMillis: number): number {
    const last = this.lastHeartbeatMillis;
    if (last === undefined) return 0;
    const deviation = Math.max(this.history.stdDeviation, this.options.minStdDeviationMillis);
    return phiOf(
      nowMillis - last,
      this.history.mean + this.options.acceptableHeartbeatPauseMillis,
      deviation,
    );
  }

  isAvailable(nowMillis: number): boolean {
    return this.phi(nowMillis) < this.options.threshold;
  }

  clone(): PhiAccrualFailureDetector {
    const copy = new PhiAccrualFailureDetector(this.options);
    copy.history = this.history.clone();
    copy.lastHeartbeatMillis = this.lastHeartbeatMillis;
    return copy;
  }
}
