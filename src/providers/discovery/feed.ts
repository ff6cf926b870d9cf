/**
 * The discovery of one upstream: a provider's answers, guarded, snapshotted and applied
 * to the upstream's live target set as the `discovery:KIND` source.
 *
 * What every provider gets from here, so none re-implements it:
 * - **Last known good.** A failure changes nothing: the targets of the last applied answer
 *   keep serving (health checks and outlier detection still apply to them), and the
 *   staleness gauge grows. APISIX kept serving stale routes *silently* after etcd trouble
 *   (apache/apisix#11144); here the age of the view is always visible.
 * - **The empty-answer guard.** An answer with fewer than `minTargets` targets is refused
 *   (default 1: an empty answer never empties the upstream). Traefik's Consul provider
 *   dropped routers whose service had no healthy instance (traefik/traefik#13821): a
 *   registry hiccup became a 404 for every client.
 * - **The snapshot on disk**, written atomically on each change (and refreshed while
 *   unchanged), restored at start before the provider is asked, so a node restarted during
 *   a registry outage serves what it knew.
 * - Joining targets are `warming` until their first health check passes, leaving ones
 *   drain (the set's rules for any source); a provider never sees either.
 */
import type { Logger } from '../../observability/logger.js';
import type { DiscoverySnapshot } from '../../observability/snapshot.js';
import type { TargetConfig } from '../../upstreams/config/types.js';
import { parseTargetUrl, targetWeightProblem } from '../../upstreams/config/targets.js';
import { keyOf, type MembershipCommand, type MembershipResult } from '../../upstreams/membership.js';
import type { DiscoveredTarget, DiscoveryProvider, DiscoverySink } from './config/contract.js';
import type { ProviderDescriptor } from './config/descriptor.js';
import type { DiscoveryConfig } from './config/types.js';
import { readSnapshot, SNAPSHOT_FORMAT, writeSnapshot } from './snapshot-file.js';

/** The part of the data plane a feed drives. */
export interface DiscoveryPort {
  membership(upstream: string, command: MembershipCommand): MembershipResult | null;
}

/** The view in force. */
export interface DiscoveryView {
  readonly targets: readonly TargetConfig[];
  /** Canonical text of `targets`, to tell an unchanged answer. */
  readonly key: string;
  /** When the registry last confirmed it (epoch ms). */
  confirmedAt: number;
  from: 'provider' | 'snapshot';
}

/** How often an unchanged view's snapshot is rewritten, so its `confirmedAt` stays close (staleness after a restart). */
const SNAPSHOT_REFRESH_MS = 30_000;

type Problem = { code: string; message: string; since: number };

export class DiscoveryFeed {
  view: DiscoveryView | null = null;
  private provider: DiscoveryProvider | null = null;
  private stopped = false;
  private readonly startedAt = Date.now();
  private problem: Problem | null = null;
  private readonly updates = { applied: 0, unchanged: 0, refused: 0, failed: 0 };
  private settle: () => void = () => {};
  private readonly settled: Promise<void> = new Promise((r) => (this.settle = r));
  /** The upstream was not in the config in force when the view was last pushed. */
  private unapplied = false;
  private writing: Promise<void> = Promise.resolve();
  private writtenAt = 0;
  private invalidSeen = '';
  /** A snapshot write failed and none succeeded since (logged once). */
  private snapshotFailing = false;
  readonly source: string;
  readonly identity: string;

  constructor(
    readonly upstream: string,
    readonly config: DiscoveryConfig,
    private readonly descriptor: ProviderDescriptor,
    private readonly port: DiscoveryPort,
    private readonly logger: Logger,
  ) {
    this.source = `discovery:${descriptor.key}`;
    this.identity = descriptor.identity(config.provider);
  }

  /**
   * Restores the view (`inherited` from a feed this one replaces, else the snapshot on
   * disk), applies it, then loads and starts the provider. Never rejects.
   */
  async start(inherited: DiscoveryView | null): Promise<void> {
    if (inherited !== null) this.view = inherited;
    else await this.restore();
    if (this.view !== null) this.push();
    try {
      const module = await this.descriptor.load();
      if (this.stopped) return;
      const sink: DiscoverySink = { answer: (targets) => this.answer(targets), failed: (reason) => this.failed(reason) };
      this.provider = module.start(this.config.provider, sink, { upstream: this.upstream, logger: this.logger, scheme: this.config.scheme });
    } catch (err) {
      this.failed(`the ${this.descriptor.key} provider could not start: ${(err as Error).message}`);
    }
  }

  /** Resolves on the first answer (a refused one too), or after `ms`. */
  async firstAnswer(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.settled, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  /** Pushes the view again if the upstream was missing from the config in force last time. */
  retryApply(): void {
    if (this.unapplied && this.view !== null) this.push();
  }

  /**
   * Stops the provider; with `withdraw`, its targets leave the upstream (they drain) —
   * when the block was removed from an upstream that stays. Waits for a snapshot write.
   */
  async stop(withdraw: boolean): Promise<void> {
    this.stopped = true;
    this.settle();
    await this.provider?.stop().catch(() => {});
    if (withdraw) this.port.membership(this.upstream, { op: 'replace', source: this.source, targets: [] });
    await this.writing;
  }

  snapshot(now: number): DiscoverySnapshot {
    const since = this.view?.confirmedAt ?? this.startedAt;
    return {
      upstream: this.upstream,
      provider: this.descriptor.key,
      identity: this.identity,
      targets: this.view?.targets.length ?? 0,
      stalenessS: Math.max(0, Math.round((now - since) / 100) / 10),
      from: this.view?.from ?? 'none',
      problem: this.problem === null ? null : { ...this.problem },
      updates: { ...this.updates },
    };
  }

  // ---- the sink ---------------------------------------------------------------------

  private answer(found: readonly DiscoveredTarget[]): void {
    if (this.stopped) return;
    this.settle();
    const targets = this.targetsOf(found);
    const now = Date.now();
    if (targets.length < this.config.minTargets) {
      this.updates.refused++;
      const message = `the ${this.descriptor.key} provider answered with ${targets.length} target(s), fewer than minTargets (${this.config.minTargets}); ${this.view === null ? 'there is no earlier view to keep' : `the last good view (${this.view.targets.length} target(s)) keeps serving`}`;
      this.setProblem('BRISK_DISCOVERY_ANSWER_REFUSED', message, now);
      return;
    }
    const key = targets.map((t) => `${keyOf(t)} ${t.weight}`).join('\n');
    const previous = this.view;
    this.clearProblem();
    if (previous !== null && previous.key === key) {
      this.updates.unchanged++;
      previous.confirmedAt = now;
      previous.from = 'provider';
      if (now - this.writtenAt >= SNAPSHOT_REFRESH_MS) this.save();
      return;
    }
    this.updates.applied++;
    this.view = { targets, key, confirmedAt: now, from: 'provider' };
    const before = new Set(previous?.targets.map(keyOf) ?? []);
    const after = new Set(targets.map(keyOf));
    const joined = [...after].filter((k) => !before.has(k));
    const left = [...before].filter((k) => !after.has(k));
    this.logger.info({ upstream: this.upstream, provider: this.descriptor.key, targets: targets.length, joined, left }, `upstream "${this.upstream}": ${this.descriptor.key} discovery found ${targets.length} target(s) (+${joined.length} -${left.length})`);
    this.push();
    this.save();
  }

  private failed(reason: string): void {
    if (this.stopped) return;
    // A failure does not end the start's wait: a registry that is slow to answer (or elects a leader) may still answer within startWait.
    this.updates.failed++;
    this.setProblem('BRISK_DISCOVERY_UNAVAILABLE', `${reason}; ${this.view === null ? 'no targets known yet' : `the last good view (${this.view.targets.length} target(s), ${this.view.from === 'snapshot' ? 'from the snapshot' : 'confirmed'} ${new Date(this.view.confirmedAt).toISOString()}) keeps serving`}`, Date.now());
  }

  // ---- helpers ------------------------------------------------------------------------

  /** Valid, de-duplicated targets in a stable order; invalid entries are logged (once per change) and skipped. */
  private targetsOf(found: readonly DiscoveredTarget[]): TargetConfig[] {
    const byKey = new Map<string, TargetConfig>();
    const invalid: string[] = [];
    for (const f of found) {
      const url = parseTargetUrl(f.url);
      const weight = f.weight ?? this.config.weight;
      const why = url === null ? 'not a URL' : (url.problems[0] ?? targetWeightProblem(weight));
      if (why !== null || url === null) {
        invalid.push(`${f.url}: ${why}`);
        continue;
      }
      const t: TargetConfig = { origin: url.origin, basePath: url.basePath, weight };
      if (!byKey.has(keyOf(t))) byKey.set(keyOf(t), t);
    }
    const seen = invalid.join('\n');
    if (seen !== this.invalidSeen) {
      this.invalidSeen = seen;
      if (invalid.length > 0) this.logger.warn({ upstream: this.upstream, code: 'BRISK_DISCOVERY_INVALID_TARGET', invalid }, `upstream "${this.upstream}": ${invalid.length} ${this.descriptor.key} entr${invalid.length === 1 ? 'y is' : 'ies are'} not a valid target and ${invalid.length === 1 ? 'is' : 'are'} skipped: ${invalid.slice(0, 3).join('; ')}`);
    }
    return [...byKey.values()].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  }

  private push(): void {
    const view = this.view;
    if (view === null) return;
    this.unapplied = this.port.membership(this.upstream, { op: 'replace', source: this.source, targets: view.targets }) === null;
  }

  private setProblem(code: string, message: string, now: number): void {
    const same = this.problem?.code === code;
    // Once per kind of problem: a registry down for an hour must not log every retry (the admin API has the latest message).
    if (!same) {
      this.logger.warn({ upstream: this.upstream, provider: this.descriptor.key, code }, `upstream "${this.upstream}": ${message}`);
    }
    this.problem = { code, message, since: same ? this.problem!.since : now };
  }

  private clearProblem(): void {
    if (this.problem === null) return;
    this.logger.info({ upstream: this.upstream, provider: this.descriptor.key }, `upstream "${this.upstream}": ${this.descriptor.key} discovery answers again (${this.problem.code} since ${new Date(this.problem.since).toISOString()})`);
    this.problem = null;
  }

  private async restore(): Promise<void> {
    const file = this.config.snapshotFile;
    if (file === null) return;
    const s = await readSnapshot(file, this.upstream, this.identity);
    if (s === null) return;
    if ('ignored' in s) {
      this.logger.warn({ upstream: this.upstream, file, code: 'BRISK_DISCOVERY_SNAPSHOT_FAILED' }, `upstream "${this.upstream}": the discovery snapshot ${file} is not used: ${s.ignored}`);
      return;
    }
    const targets = this.targetsOf(s.targets);
    if (targets.length === 0) return;
    this.view = { targets, key: targets.map((t) => `${keyOf(t)} ${t.weight}`).join('\n'), confirmedAt: Date.parse(s.confirmedAt), from: 'snapshot' };
    this.logger.info({ upstream: this.upstream, file, targets: targets.length, confirmedAt: s.confirmedAt }, `upstream "${this.upstream}": ${targets.length} target(s) restored from the discovery snapshot (confirmed ${s.confirmedAt}) until the ${this.descriptor.key} provider answers`);
  }

  /** Writes the view to the snapshot file after any write under way (one at a time, newest view). */
  private save(): void {
    const file = this.config.snapshotFile;
    const view = this.view;
    if (file === null || view === null) return;
    this.writtenAt = Date.now();
    this.writing = this.writing.then(async () => {
      const current = this.view ?? view;
      try {
        await writeSnapshot(file, {
          format: SNAPSHOT_FORMAT,
          upstream: this.upstream,
          provider: this.descriptor.key,
          identity: this.identity,
          confirmedAt: new Date(current.confirmedAt).toISOString(),
          targets: current.targets.map((t) => ({ url: keyOf(t), weight: t.weight })),
        });
        if (this.snapshotFailing) this.logger.info({ upstream: this.upstream, file }, `upstream "${this.upstream}": the discovery snapshot ${file} is written again`);
        this.snapshotFailing = false;
      } catch (err) {
        if (this.snapshotFailing) return;
        this.snapshotFailing = true;
        this.logger.warn({ upstream: this.upstream, file, code: 'BRISK_DISCOVERY_SNAPSHOT_FAILED', err: (err as Error).message }, `upstream "${this.upstream}": cannot write the discovery snapshot ${file}; a restart while the registry is down would start without these targets`);
      }
    });
  }
}
