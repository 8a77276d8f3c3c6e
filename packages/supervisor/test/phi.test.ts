import { InvalidArgumentError } from '@regionstore/core';
import { DEFAULT_PHI_OPTIONS, PhiAccrualFailureDetector, phiOf } from '@regionstore/supervisor';

/** The normal CDF by numeric integration, to check the logistic approximation independently. */
function normalCdf(x: number): number {
  const steps = 20000;
  const from = -12;
  const h = (x - from) / steps;
  let sum = 0;
  for (let i = 0; i <= steps; i++) {
    const t = from + i * h;
    const w = i === 0 || i === steps ? 0.5 : 1;
    sum += w * Math.exp((-t * t) / 2);
  }
  return (sum * h) / Math.sqrt(2 * Math.PI);
}

describe('PhiAccrualFailureDetector', () => {
  it('has the GreptimeDB defaults', () => {
    expect(DEFAULT_PHI_OPTIONS).toEqual({
      threshold: 8,
      minStdDeviationMillis: 100,
      acceptableHeartbeatPauseMillis: 10_000,
      firstHeartbeatEstimateMillis: 1_000,
      maxSampleSize: 1_000,
    });
  });

  it.each([
    // timeDiff, mean, stdDeviation
    [1000, 1000, 100],
    [1100, 1000, 100],
    [1200, 1000, 100],
    [1300, 1000, 100],
    [1500, 1000, 200],
    [900, 1000, 100],
    [2000, 1000, 250],
  ])('phi(%d | mean %d, sd %d) gives the normal CDF: 1 - 10^-phi within 0.001', (diff, mean, sd) => {
    const cdf = 1 - 10 ** -phiOf(diff, mean, sd);
    expect(Math.abs(cdf - normalCdf((diff - mean) / sd))).toBeLessThan(0.001);
  });

  it('matches the formula for a known, perfectly regular history', () => {
    const detector = new PhiAccrualFailureDetector({
      acceptableHeartbeatPauseMillis: 0,
      firstHeartbeatEstimateMillis: 1000,
    });
    // Seeds 750 and 1250, then intervals of exactly 1000.
    for (let t = 0; t <= 10_000; t += 1000) detector.heartbeat(t);
    // 12 samples: 750, 1250, then ten of 1000; mean 1000; sd = sqrt((250² · 2) / 12).
    const sd = Math.max(Math.sqrt((2 * 250 * 250) / 12), 100);
    for (const gap of [500, 1000, 1200, 1500, 2000]) {
      expect(detector.phi(10_000 + gap)).toBeCloseTo(phiOf(gap, 1000, sd), 10);
    }
    expect(detector.phi(10_000 + 1000)).toBeCloseTo(Math.log10(2), 6);
  });

  it('is 0 before any heartbeat, rises with silence, and ignores out-of-order heartbeats', () => {
    const detector = new PhiAccrualFailureDetector();
    expect(detector.phi(123)).toBe(0);
    expect(detector.isAvailable(123)).toBe(true);
    detector.heartbeat(1000);
    const phis = [2000, 8000, 11_000, 12_000, 13_000, 16_000].map((t) => detector.phi(t));
    for (let i = 1; i < phis.length; i++) expect(phis[i]!).toBeGreaterThanOrEqual(phis[i - 1]!);
    // Seeded history: mean 1000, sd 250; plus the 10 s pause: at +15 s phi is far past 8.
    expect(detector.isAvailable(13_000)).toBe(true);
    expect(detector.isAvailable(16_000)).toBe(false);
    detector.heartbeat(500);
    expect(detector.lastHeartbeat).toBe(1000);
  });

  it('does not learn from a failure-sized gap', () => {
    const detector = new PhiAccrualFailureDetector({ acceptableHeartbeatPauseMillis: 0 });
    for (let t = 0; t <= 20_000; t += 1000) detector.heartbeat(t);
    const before = detector.phi(20_000 + 1500);
    detector.heartbeat(20_000 + 60_000); // back after a minute of silence
    expect(detector.phi(80_000 + 1500)).toBeCloseTo(before, 10);
  });

  it('rejects nonsensical options', () => {
    expect(() => new PhiAccrualFailureDetector({ threshold: 0 })).toThrow(InvalidArgumentError);
    expect(() => new PhiAccrualFailureDetector({ minStdDeviationMillis: -1 })).toThrow(InvalidArgumentError);
    expect(() => new PhiAccrualFailureDetector({ maxSampleSize: 1.5 })).toThrow(InvalidArgumentError);
  });
});
