/**
 * Tracks the bytes written on this node since their regions' last flush (GreptimeDB's write buffer
 * manager). Over `globalSize` the largest regions are flushed and writes stall; at `rejectSize`
 * writes are refused with WriteBufferFull.
 */
export class WriteBufferManager {
  private usage = 0;

  constructor(
    readonly globalSize: number,
    readonly rejectSize: number,
  ) {}

  get memoryUsage(): number {
    return this.usage;
  }

  reserve(bytes: number): void {
    this.usage += bytes;
  }

  /** Bytes a finished flush (or a dropped region) no longer holds. */
  free(bytes: number): void {
    this.usage = Math.max(0, this.usage - bytes);
  }

  shouldFlushEngine(): boolean {
    return this.usage >= this.globalSize;
  }

  shouldStall(): boolean {
    return this.usage >= this.globalSize;
  }

  shouldReject(): boolean {
    return this.usage >= this.rejectSize;
  }
}
