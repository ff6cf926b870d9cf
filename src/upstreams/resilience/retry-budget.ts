/**
 * A retry budget (as in Finagle and Linkerd): retries may be at most `ratio` of the
 * requests over the last 10 seconds, plus `minPerSecond` always allowed. During an outage
 * every request fails and would be retried; the budget keeps that from multiplying the
 * load on targets that are already struggling.
 */
export class RetryBudget {
  private static readonly SLOTS = 10;
  private readonly requests = new Float64Array(RetryBudget.SLOTS);
  private readonly retries = new Float64Array(RetryBudget.SLOTS);
  private slotSecond = 0;

  constructor(
    private readonly ratio: number,
    private readonly minPerSecond: number,
  ) {}

  onRequest(): void {
    this.requests[this.slot()]! += 1;
  }

  onRetry(): void {
    this.retries[this.slot()]! += 1;
  }

  canRetry(): boolean {
    this.slot();
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < RetryBudget.SLOTS; i++) {
      requests += this.requests[i]!;
      retries += this.retries[i]!;
    }
    return retries < this.minPerSecond * RetryBudget.SLOTS + this.ratio * requests;
  }

  /** The slot of the current second, clearing slots of seconds that have passed. */
  private slot(): number {
    const second = Math.floor(Date.now() / 1000);
    const passed = second - this.slotSecond;
    if (passed !== 0) {
      const clear = Math.min(passed, RetryBudget.SLOTS);
      for (let k = 1; k <= clear; k++) {
        const i = (this.slotSecond + k) % RetryBudget.SLOTS;
        this.requests[i] = 0;
        this.retries[i] = 0;
      }
      this.slotSecond = second;
    }
    return second % RetryBudget.SLOTS;
  }

  toJSON(): Record<string, number> {
    this.slot();
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < RetryBudget.SLOTS; i++) {
      requests += this.requests[i]!;
      retries += this.retries[i]!;
    }
    return { requests10s: requests, retries10s: retries };
  }
}
