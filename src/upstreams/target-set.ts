import type { TargetConfig, UpstreamConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import {
  ADMIN_SOURCE,
  bySourcePrecedence,
  keyOf,
  type MembershipChange,
  type MembershipCommand,
  type MembershipResult,
  type MemberView,
  type TargetSetListener,
} from './membership.js';
import { closeGracefully, closePools, createPool, poolKeyOf } from './pools.js';
import { Target, type MemberState } from './target.js';

interface Member {
  readonly key: string;
  readonly target: Target;
  state: MemberState;
  /** `Date.now()` when its drain started and when what is left of it is cut (0: not draining). */
  drainSince: number;
  drainDeadline: number;
  drainTimer: NodeJS.Timeout | null;
}

interface MutableChange {
  added: Target[];
  activated: Target[];
  draining: Target[];
  removed: Target[];
  reweighted: Target[];
}

const NO_TARGETS: readonly Target[] = Object.freeze([]);

/**
 * The live target set of one upstream: which targets it has right now, merged from the
 * contributions of its sources (`file`, `admin`, later `supervisor`, `dns`, …), each in a
 * state (`warming`, `active`, `draining`). It outlives config versions: the registry hands
 * the same set to every version of the upstream, so pools stay warm and health, latency
 * and ejections carry over, and targets added at runtime survive reloads.
 *
 * It changes only through `apply(command)`, whose commands are plain data (see
 * `membership.ts`), and through health: a warming target becomes active on its first
 * passing health check. Followers (the upstream version in force: its balancer, health
 * checks and outlier detection) subscribe and read the lists again on each change.
 *
 * The lists (`members`, `routable`, `probed`) are replaced, never mutated, so a reader
 * holding one sees a consistent snapshot; `version` grows on every change.
 *
 * @example
 * const set = registry.targetSet('shop', logger);
 * set.configure(upstreamConfig);
 * set.apply({ op: 'replace', source: 'file', targets: upstreamConfig.targets });
 * set.apply({ op: 'add', source: 'admin', target: { origin: 'http://10.0.0.9:8080', basePath: '', weight: 1 } });
 * set.apply({ op: 'drain', key: 'http://10.0.0.7:8080' });
 */
export class TargetSet {
  /** Grows on every change of membership, state or weight (followers compare it). */
  version = 0;
  /** Every member, draining ones included, in precedence then source order. */
  members: readonly Target[] = NO_TARGETS;
  /** Active members: what the balancer picks from. */
  routable: readonly Target[] = NO_TARGETS;
  /** Warming and active members: what health checks probe. */
  probed: readonly Target[] = NO_TARGETS;
  /**
   * False until an upstream version first activated the set. Targets joining before that
   * are `active` at once: the activation probes them before the upstream takes traffic.
   * Targets joining a live set with health checks are `warming` until a probe passes.
   */
  private live = false;
  private closed = false;
  private config: UpstreamConfig | null = null;
  private poolKey = '';
  private readonly byKey = new Map<string, Member>();
  private order: Member[] = [];
  /** Each source's contribution, by target key, in the source's order. */
  private readonly contributions = new Map<string, Map<string, TargetConfig>>();
  /** Keys taken out by `drain`/`remove` while a source other than `admin` still names them. */
  private readonly held = new Set<string>();
  private readonly listeners = new Set<TargetSetListener>();

  constructor(
    readonly upstream: string,
    private readonly logger: Logger,
  ) {}

  /** Puts an upstream config version's settings in force: pools (rebuilt when their settings changed), health-check presence, drain bound. */
  configure(config: UpstreamConfig): void {
    const poolKey = poolKeyOf(config);
    if (this.config !== null && poolKey !== this.poolKey) {
      for (const m of this.byKey.values()) {
        // A draining target keeps the pool its requests are on.
        if (m.state === 'draining') continue;
        const old = m.target.pool;
        m.target.pool = createPool(m.target.origin, config);
        closeGracefully(old);
      }
    }
    this.poolKey = poolKey;
    this.config = config;
    // Health checks removed from the config: what they last said no longer applies (this
    // also ends every warm-up, through `onAvailability`).
    if (config.healthCheck === null) for (const m of this.byKey.values()) if (!m.target.activeHealthy) m.target.setActiveHealth(true, null);
  }

  /** Whether `configure` was called (an upstream version activated the set, or is about to). */
  get isConfigured(): boolean {
    return this.config !== null;
  }

  /** Marks the set as serving: from now on, targets joining an upstream with health checks warm up first. */
  goLive(): void {
    this.live = true;
  }

  /** Whether an upstream version has activated the set (see `goLive`). */
  get isLive(): boolean {
    return this.live;
  }

  /** Follows the set until the returned function is called. */
  subscribe(listener: TargetSetListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Applies one membership command (see `MembershipCommand`). Needs `configure` first. */
  apply(command: MembershipCommand): MembershipResult {
    const config = this.config;
    if (config === null) throw new Error(`target set of upstream "${this.upstream}" used before it was configured`);
    if (this.closed) return { ok: false, reason: 'not-found', message: `upstream "${this.upstream}" was removed from the configuration` };
    const change: MutableChange = { added: [], activated: [], draining: [], removed: [], reweighted: [] };
    let key: string | null = null;
    switch (command.op) {
      case 'replace': {
        const next = new Map<string, TargetConfig>();
        for (const t of command.targets) if (!next.has(keyOf(t))) next.set(keyOf(t), t);
        if (next.size === 0) this.contributions.delete(command.source);
        else this.contributions.set(command.source, next);
        this.reconcile(change, config.drainTimeoutMs);
        break;
      }
      case 'add': {
        key = keyOf(command.target);
        const m = this.byKey.get(key);
        if (m !== undefined && m.state !== 'draining') {
          return { ok: false, reason: 'exists', message: `${key} is already a target of upstream "${this.upstream}" (${m.state}, from ${this.sourcesOf(key).join(', ') || 'no source'})`, target: this.view(m) };
        }
        let contribution = this.contributions.get(command.source);
        if (contribution === undefined) this.contributions.set(command.source, (contribution = new Map()));
        contribution.set(key, command.target);
        this.held.delete(key);
        this.reconcile(change, config.drainTimeoutMs);
        break;
      }
      case 'drain':
      case 'remove': {
        key = command.key;
        const m = this.byKey.get(key);
        if (m === undefined) return { ok: false, reason: 'not-found', message: `upstream "${this.upstream}" has no target ${key}` };
        const timeoutMs = command.op === 'remove' ? 0 : Math.max(0, command.timeoutMs ?? config.drainTimeoutMs);
        const admin = this.contributions.get(ADMIN_SOURCE);
        if (admin?.delete(key) === true && admin.size === 0) this.contributions.delete(ADMIN_SOURCE);
        if (this.sourcesOf(key).length > 0) this.held.add(key);
        // Read before the drain: an idle target leaves the set at once.
        const subject = m;
        if (m.state === 'draining') this.shortenDrain(m, timeoutMs);
        else this.reconcile(change, timeoutMs);
        this.publish(change);
        return { ok: true, target: this.view(subject) };
      }
    }
    this.publish(change);
    const m = key === null ? undefined : this.byKey.get(key);
    return m === undefined ? { ok: true } : { ok: true, target: this.view(m) };
  }

  /** A member's view for the admin API (undefined when not a member). */
  viewOf(target: Target): MemberView | undefined {
    const m = this.byKey.get(keyOf(target));
    return m === undefined || m.target !== target ? undefined : this.view(m);
  }

  /** The member with this key or short id. */
  find(keyOrId: string): Target | undefined {
    const m = this.byKey.get(keyOrId);
    if (m !== undefined) return m.target;
    for (const o of this.byKey.values()) if (o.target.id === keyOrId) return o.target;
    return undefined;
  }

  /** Targets named by a source but taken out by a drain, with the sources naming them. */
  heldOut(): { url: string; sources: string[] }[] {
    return [...this.held].map((key) => ({ url: key, sources: this.sourcesOf(key) }));
  }

  /**
   * The upstream left the configuration: every member drains (bounded by the last
   * `drainTimeout`) and the set takes no more commands.
   */
  close(): void {
    if (this.closed) return;
    const change: MutableChange = { added: [], activated: [], draining: [], removed: [], reweighted: [] };
    this.contributions.clear();
    this.held.clear();
    this.reconcile(change, this.config?.drainTimeoutMs ?? 0);
    this.closed = true;
    this.publish(change);
    this.listeners.clear();
  }

  /** Shutdown: closes every pool, waiting up to `graceMs` for requests in flight. */
  async closeAll(graceMs: number): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    const pools = [];
    for (const m of this.byKey.values()) {
      if (m.drainTimer !== null) clearTimeout(m.drainTimer);
      m.target.onIdle = null;
      pools.push(m.target.pool);
    }
    this.byKey.clear();
    this.order = [];
    await closePools(pools, graceMs);
  }

  /**
   * Brings membership in line with the contributions: the first source (by precedence)
   * naming a key defines its settings; held keys stay out; members no source names drain.
   */
  private reconcile(change: MutableChange, drainTimeoutMs: number): void {
    const wanted = new Map<string, TargetConfig>();
    for (const source of [...this.contributions.keys()].sort(bySourcePrecedence)) {
      for (const [key, t] of this.contributions.get(source)!) if (!wanted.has(key)) wanted.set(key, t);
    }
    for (const key of this.held) {
      // Nothing names it any more: the hold has done its job.
      if (!wanted.has(key)) this.held.delete(key);
      wanted.delete(key);
    }
    const order: Member[] = [];
    for (const [key, t] of wanted) {
      let m = this.byKey.get(key);
      if (m === undefined) {
        m = this.join(key, t);
        change.added.push(m.target);
      } else {
        if (m.state === 'draining') this.revive(m, change);
        if (m.target.weight !== t.weight) {
          m.target.weight = t.weight;
          change.reweighted.push(m.target);
        }
      }
      order.push(m);
    }
    for (const m of this.order) {
      if (wanted.has(m.key) || !this.byKey.has(m.key)) continue;
      order.push(m);
      if (m.state !== 'draining') this.startDrain(m, drainTimeoutMs, change);
    }
    this.order = order.filter((m) => this.byKey.has(m.key));
  }

  private join(key: string, t: TargetConfig): Member {
    const config = this.config!;
    const target = new Target(this.upstream, t, createPool(t.origin, config));
    const check = config.healthCheck;
    const probedFirst = check !== null && !check.initiallyHealthy;
    // Set before the listener is attached: a new target is not a change of availability.
    if (probedFirst) target.setActiveHealth(false, 'not probed yet');
    const state: MemberState = this.live && probedFirst ? 'warming' : 'active';
    target.memberState = state;
    target.onAvailabilityChange = this.onAvailability;
    const m: Member = { key, target, state, drainSince: 0, drainDeadline: 0, drainTimer: null };
    this.byKey.set(key, m);
    const why = state === 'warming' ? '; warming: no traffic before its first passing health check' : '';
    if (this.live) this.logger.info({ upstream: this.upstream, target: key, sources: this.sourcesOf(key) }, `upstream "${this.upstream}": target ${key} joined${why}`);
    return m;
  }

  /** A draining member named again: it stays (warming again if its last health verdict was bad). */
  private revive(m: Member, change: MutableChange): void {
    if (m.drainTimer !== null) clearTimeout(m.drainTimer);
    m.drainTimer = null;
    m.drainSince = 0;
    m.drainDeadline = 0;
    m.target.onIdle = null;
    const warming = this.config!.healthCheck !== null && !m.target.activeHealthy;
    this.setState(m, warming ? 'warming' : 'active');
    // Back to warming is a (re)join as far as followers care: health checks probe it again.
    (warming ? change.added : change.activated).push(m.target);
    this.logger.info({ upstream: this.upstream, target: m.key }, `upstream "${this.upstream}": draining target ${m.key} is named again; kept`);
  }

  private startDrain(m: Member, timeoutMs: number, change: MutableChange): void {
    const now = Date.now();
    this.setState(m, 'draining');
    m.drainSince = now;
    change.draining.push(m.target);
    const inFlight = m.target.inFlight;
    if (inFlight <= 0) {
      this.finish(m, 'drained', change);
      return;
    }
    this.logger.info({ upstream: this.upstream, target: m.key, inFlight, drainTimeoutMs: timeoutMs }, `upstream "${this.upstream}": draining target ${m.key} (${inFlight} in flight)`);
    m.target.onIdle = () => this.finishAndPublish(m, 'drained');
    this.armDrainTimer(m, now + timeoutMs);
  }

  private shortenDrain(m: Member, timeoutMs: number): void {
    const deadline = Date.now() + timeoutMs;
    if (deadline < m.drainDeadline) this.armDrainTimer(m, deadline);
  }

  private armDrainTimer(m: Member, deadline: number): void {
    if (m.drainTimer !== null) clearTimeout(m.drainTimer);
    m.drainDeadline = deadline;
    m.drainTimer = setTimeout(() => this.finishAndPublish(m, 'cut'), Math.max(0, deadline - Date.now()));
    m.drainTimer.unref();
  }

  private finishAndPublish(m: Member, how: 'drained' | 'cut'): void {
    if (this.byKey.get(m.key) !== m) return;
    const change: MutableChange = { added: [], activated: [], draining: [], removed: [], reweighted: [] };
    this.finish(m, how, change);
    this.publish(change);
  }

  /** Takes the member out for good and closes its pool: gracefully when drained, at once when cut. */
  private finish(m: Member, how: 'drained' | 'cut', change: MutableChange): void {
    const t = m.target;
    if (m.drainTimer !== null) clearTimeout(m.drainTimer);
    m.drainTimer = null;
    t.onIdle = null;
    t.onAvailabilityChange = null;
    this.setState(m, 'removed');
    this.byKey.delete(m.key);
    this.order = this.order.filter((o) => o !== m);
    change.removed.push(t);
    if (how === 'cut' && t.inFlight > 0) {
      this.logger.warn({ upstream: this.upstream, target: m.key, inFlight: t.inFlight }, `upstream "${this.upstream}": target ${m.key} did not drain in time; ${t.inFlight} request(s) in flight cut`);
      t.pool.destroy().catch(() => {});
    } else {
      this.logger.info({ upstream: this.upstream, target: m.key }, `upstream "${this.upstream}": target ${m.key} removed; its connections are closed`);
      closeGracefully(t.pool);
    }
  }

  private setState(m: Member, state: MemberState): void {
    m.state = state;
    m.target.memberState = state;
  }

  /** Every target's availability listener: ends warm-ups, and tells the followers. */
  private readonly onAvailability = (target: Target): void => {
    const m = this.byKey.get(keyOf(target));
    if (m === undefined || m.target !== target) return;
    if (m.state === 'warming' && target.available) {
      this.setState(m, 'active');
      this.publish({ added: [], activated: [target], draining: [], removed: [], reweighted: [] });
    }
    for (const l of [...this.listeners]) {
      try {
        l.availabilityChanged(target);
      } catch (err) {
        this.logger.error({ upstream: this.upstream, err }, `upstream "${this.upstream}": a follower of the target set failed`);
      }
    }
  };

  /** Rebuilds the lists and tells the followers, when anything changed. */
  private publish(change: MembershipChange): void {
    if (change.added.length + change.activated.length + change.draining.length + change.removed.length + change.reweighted.length === 0) return;
    this.version++;
    this.members = Object.freeze(this.order.map((m) => m.target));
    this.routable = sameOrNew(this.routable, this.order.filter((m) => m.state === 'active').map((m) => m.target));
    this.probed = sameOrNew(this.probed, this.order.filter((m) => m.state === 'active' || m.state === 'warming').map((m) => m.target));
    for (const l of [...this.listeners]) {
      try {
        l.membershipChanged(change);
      } catch (err) {
        this.logger.error({ upstream: this.upstream, err }, `upstream "${this.upstream}": a follower of the target set failed`);
      }
    }
  }

  /** The sources naming `key`, in precedence order. */
  private sourcesOf(key: string): string[] {
    const out: string[] = [];
    for (const [source, contribution] of this.contributions) if (contribution.has(key)) out.push(source);
    return out.sort(bySourcePrecedence);
  }

  private view(m: Member): MemberView {
    const base = { id: m.target.id, url: m.key, state: m.state, sources: this.sourcesOf(m.key), weight: m.target.weight };
    if (m.state !== 'draining') return base;
    return { ...base, drain: { since: new Date(m.drainSince).toISOString(), deadline: new Date(m.drainDeadline).toISOString() } };
  }

}

/** `previous` when it holds the same targets in the same order (followers then skip a rebuild), else `next`, frozen. */
function sameOrNew(previous: readonly Target[], next: Target[]): readonly Target[] {
  if (previous.length === next.length && previous.every((t, i) => t === next[i])) return previous;
  return Object.freeze(next);
}
