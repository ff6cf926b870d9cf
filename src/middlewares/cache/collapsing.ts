/**
 * Request collapsing: the first miss for a URL goes to the backend (the leader of a
 * flight); later misses for it wait until the leader's response is stored or judged. A
 * URL whose response could not be stored is not collapsed for a while (Varnish's
 * hit-for-miss), so an uncacheable URL does not serialise its requests.
 */

/** How the leader of a collapsed miss ended. */
export type FlightOutcome = 'stored' | 'uncacheable' | 'failed';

/** How long a URL whose response could not be stored skips request collapsing. */
const HIT_FOR_MISS_MS = 10_000;
const HIT_FOR_MISS_MAX = 10_000;

interface Flight {
  readonly waiters: ((outcome: FlightOutcome | 'timeout') => void)[];
}

export class Collapsing {
  private readonly flights = new Map<string, Flight>();
  private readonly hitForMiss = new Map<string, number>();

  /** True while the URL is marked hit-for-miss: its requests go to the backend uncollapsed. */
  skips(key: string): boolean {
    const until = this.hitForMiss.get(key);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.hitForMiss.delete(key);
    return false;
  }

  /**
   * Joins the flight for a key: null when there was none and the caller now leads one,
   * else a promise of how the leader ended ('timeout' after `timeoutMs`).
   */
  join(key: string, timeoutMs: number): Promise<FlightOutcome | 'timeout'> | null {
    const flight = this.flights.get(key);
    if (flight === undefined) {
      this.flights.set(key, { waiters: [] });
      return null;
    }
    return new Promise((resolve) => {
      let settled = false;
      const timer = setTimeout(() => done('timeout'), timeoutMs);
      const done = (outcome: FlightOutcome | 'timeout') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      flight.waiters.push(done);
    });
  }

  /** Ends the flight for a key and wakes its waiters. */
  release(key: string, outcome: FlightOutcome): void {
    const flight = this.flights.get(key);
    if (flight === undefined) return;
    this.flights.delete(key);
    if (outcome === 'uncacheable') {
      if (this.hitForMiss.size >= HIT_FOR_MISS_MAX) this.hitForMiss.clear();
      this.hitForMiss.set(key, Date.now() + HIT_FOR_MISS_MS);
    } else if (outcome === 'stored') this.hitForMiss.delete(key);
    for (const w of flight.waiters) w(outcome);
  }

  /** Ends every flight (the route cache is closing): waiters go to the backend themselves. */
  releaseAll(): void {
    for (const [key] of this.flights) this.release(key, 'failed');
  }
}
