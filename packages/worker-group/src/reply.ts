/** Where a worker sends one request's answer; the submitter awaits `promise`. */
export class Reply<T> {
  readonly promise: Promise<T>;
  private settled = false;
  private resolveFn!: (value: T) => void;
  private rejectFn!: (err: unknown) => void;

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    // A submitter that stopped listening must not turn a late error into an unhandled rejection.
    this.promise.catch(() => undefined);
  }

  get isSettled(): boolean {
    return this.settled;
  }

  send(value: T): void {
    if (this.settled) return;
    this.settled = true;
    this.resolveFn(value);
  }

  fail(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.rejectFn(err);
  }
}
