/**
 * The topology of a primary/replica cluster as this process sees it, kept fresh by a
 * probe loop, and the choice of a host for each query.
 *
 * Discovery works like libpq's `target_session_attrs=read-write` (and Patroni's REST
 * `/primary` check) done continuously: every host is asked `pg_is_in_recovery()`; the one
 * answering false is the primary. When two answer false (a split brain during a manual
 * switchover), the one with the higher WAL position wins and the other is treated as
 * unknown until it turns into a replica. When none answers false the cluster has no
 * primary: writes wait (idempotent) or fail (`BRISK_SVC_DB_NO_PRIMARY`), reads go on on
 * the replicas, and the probe runs at the faster `discoveryIntervalMs`.
 *
 * Replica lag is measured on this process's monotonic clock, never the servers': each
 * primary probe records (time, WAL position); a replica that has replayed position P is
 * missing at most the writes made since the last primary sample at or below P, so its
 * lag is at most `now - that sample's time` (an overestimate by at most one probe
 * interval, which errs on the side of freshness).
 */
import type { Logger } from '../observability.js';
import { Host, type HostRole, type ProbeResult } from './host.js';

export interface ClusterOptions {
  probeIntervalMs: number;
  discoveryIntervalMs: number;
  probeTimeoutMs: number;
}

interface Sample {
  at: number;
  lsn: bigint;
}

const HISTORY_MS = 120_000;

export class Cluster {
  readonly hosts: readonly Host[];
  #primary: Host | undefined;
  /** Primary WAL positions over time, oldest first. */
  #history: Sample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #probing: Promise<void> | undefined;
  #stopped = false;
  #waiters: (() => void)[] = [];
  readonly #options: ClusterOptions;
  readonly #log: Logger;
  /** Called after every probe round (metrics). */
  onProbed: () => void = () => {};
  /** Called when the primary changes (failover, first discovery). */
  onPrimaryChange: (from: Host | undefined, to: Host | undefined) => void = () => {};

  constructor(hosts: Host[], options: ClusterOptions, log: Logger) {
    this.hosts = hosts;
    this.#options = options;
    this.#log = log;
    for (const host of hosts) host.onIdleError = (h, error) => this.#onIdleError(h, error);
  }

  get primary(): Host | undefined {
    return this.#primary;
  }

  /** Starts the probe loop after a first full probe round. */
  async start(): Promise<void> {
    await this.probeNow();
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    const interval = this.#primary === undefined ? this.#options.discoveryIntervalMs : this.#options.probeIntervalMs;
    this.#timer = setTimeout(() => {
      this.probeNow().finally(() => this.#schedule());
    }, interval);
    this.#timer.unref();
  }

  /** Probes every host now (joins a round already running). */
  probeNow(): Promise<void> {
    this.#probing ??= this.#probeRound().finally(() => {
      this.#probing = undefined;
    });
    return this.#probing;
  }

  /**
   * Marks a host suspect after a failed query: it is probed at once, and if it was the
   * primary and turns out not to be (or cannot be reached), writes stop going to it.
   */
  suspect(host: Host, reason: string, notPrimary: boolean): void {
    host.lastError = reason;
    if (notPrimary && host === this.#primary) {
      // 25006 from "the primary": it has been demoted. Drop every connection to it now.
      host.role = 'unknown';
      host.resetPool('answered 25006 (read-only): no longer the primary');
      this.#setPrimary(undefined);
    }
    void this.probeNow();
  }

  /** Resolves at the next probe round that finds a primary, or after `ms`. */
  waitForPrimary(ms: number): Promise<void> {
    if (this.#primary !== undefined || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const waiter = () => done();
      this.#waiters.push(waiter);
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  #onIdleError(host: Host, error: Error): void {
    this.#log.warn({ host: host.address, err: error.message }, 'database host: an idle connection failed');
    void this.probeNow();
  }

  async #probeRound(): Promise<void> {
    const results = await Promise.all(
      this.hosts.map(async (host) => {
        try {
          const probe = await this.#probeHost(host);
          if (host.failures > 0) this.#log.info({ host: host.address, inRecovery: probe.inRecovery }, 'database host: reachable again');
          host.failures = 0;
          host.lastProbe = probe;
          return { host, probe };
        } catch (error) {
          host.failures++;
          host.lastError = error instanceof Error ? error.message : String(error);
          if (host.failures === 1) this.#log.warn({ host: host.address, err: host.lastError }, 'database host: probe failed');
          return { host, probe: undefined };
        }
      }),
    );
    if (this.#stopped) return;

    const writable = results.filter((r) => r.probe !== undefined && !r.probe.inRecovery);
    writable.sort((a, b) => (a.probe!.lsn > b.probe!.lsn ? -1 : a.probe!.lsn < b.probe!.lsn ? 1 : 0));
    const primary = writable[0]?.host;
    if (writable.length > 1) {
      this.#log.error({ hosts: writable.map((w) => w.host.address), chosen: primary?.address }, 'database: more than one host accepts writes; using the one with the newest WAL');
    }
    for (const { host, probe } of results) {
      let role: HostRole;
      if (probe === undefined) role = 'unknown';
      else if (!probe.inRecovery) role = host === primary ? 'primary' : 'unknown';
      else role = 'replica';
      if (host.role === 'primary' && role !== 'primary') host.resetPool(`was the primary, now ${probe === undefined ? 'unreachable' : probe.inRecovery ? 'in recovery' : 'a second writable host'}`);
      host.role = role;
    }
    if (primary !== undefined) this.#history.push({ at: primary.lastProbe!.at, lsn: primary.lastProbe!.lsn });
    const cutoff = performance.now() - HISTORY_MS;
    while (this.#history.length > 2 && this.#history[0]!.at < cutoff) this.#history.shift();
    if (primary !== this.#primary) this.#setPrimary(primary);
    for (const host of this.hosts) host.lagMs = this.#lagOf(host);
    this.onProbed();
  }

  /**
   * Probes a host; a reachable host whose probe connection was just cut (the server
   * terminated idle sessions, a proxy dropped it) gets one more try on a fresh connection
   * before it counts as down, so the primary does not flap on a single broken socket.
   */
  async #probeHost(host: Host): Promise<ProbeResult> {
    try {
      return await host.probe(this.#options.probeTimeoutMs);
    } catch (error) {
      if (host.failures > 0) throw error;
      return host.probe(this.#options.probeTimeoutMs);
    }
  }

  #setPrimary(primary: Host | undefined): void {
    const previous = this.#primary;
    if (previous === primary) return;
    this.#primary = primary;
    this.#log.warn({ from: previous?.address ?? null, to: primary?.address ?? null }, primary === undefined ? 'database: no primary' : 'database: primary found');
    this.onPrimaryChange(previous, primary);
    if (primary !== undefined) {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const waiter of waiters) waiter();
    }
  }

  /** Lag estimate of a host in ms: 0 for the primary, Infinity when unknown. */
  #lagOf(host: Host): number {
    if (host.role === 'primary') return 0;
    if (host.role !== 'replica' || host.lastProbe === undefined) return Infinity;
    const replayed = host.lastProbe.lsn;
    const now = performance.now();
    // Newest primary sample the replica has caught up with; everything after it may be missing.
    let caughtUpAt: number | undefined;
    let newerExists = false;
    for (let i = this.#history.length - 1; i >= 0; i--) {
      const sample = this.#history[i]!;
      if (sample.lsn <= replayed) {
        caughtUpAt = sample.at;
        break;
      }
      newerExists = true;
    }
    if (!newerExists && caughtUpAt !== undefined) return 0;
    if (caughtUpAt === undefined) return this.#history.length === 0 ? Infinity : now - this.#history[0]!.at;
    // The first newer primary sample was taken after caughtUpAt: the replica misses writes
    // made at most since caughtUpAt.
    return Math.max(0, host.lastProbe.at - caughtUpAt) + (now - host.lastProbe.at);
  }

  /** Replicas that are reachable, sorted freshest first. */
  replicas(): Host[] {
    return this.hosts.filter((h) => h.role === 'replica' && h.failures === 0).sort((a, b) => a.lagMs - b.lagMs);
  }

  /** Reachable hosts whose last replay position is at or past `lsn`. */
  hostsPast(lsn: bigint): Host[] {
    return this.hosts.filter((h) => h.failures === 0 && h.lastProbe !== undefined && h.lastProbe.lsn >= lsn && (h.role === 'replica' || h.role === 'primary'));
  }

  /** The newest WAL position known for the primary (for lag when it is gone). */
  lastPrimaryLsn(): bigint | undefined {
    return this.#history.at(-1)?.lsn;
  }

  async close(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#probing?.catch(() => {});
    await Promise.all(this.hosts.map((h) => h.close()));
    for (const waiter of this.#waiters) waiter();
    this.#waiters = [];
  }
}
