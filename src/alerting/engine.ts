/**
 * The alert engine: evaluates every rule against the live stats once a second and keeps
 * one state machine per alert instance (rule + labels):
 *
 *     inactive ──cond──► pending ──cond for `for`──► firing ──¬cond for `keepFiringFor`──► resolved
 *                          │ ¬cond                      ▲ (or past `resolveThreshold`)       │ cond
 *                          ▼                            └──────────── pending ◄─────────────┘
 *                       inactive
 *
 * Changes are grouped (rule + `groupBy` labels) into notifications, de-duplicated (an
 * instance is notified once per state, reminded after `repeatInterval`), filtered by
 * silences, routed to receivers, and handed to the delivery queue. The engine reads a
 * {@link StatsSource} and nothing else, so it is tested with scripted snapshots.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import type { AlertsView, AlertSummary, StatsSnapshot, StatsSource } from '../observability/snapshot.js';
import type { ActionEvent } from './actions.js';
import { compare, formatValue, samples, VOLATILE_LABELS } from './expr.js';
import type { Notification, NotifiedAlert } from './notifiers.js';
import type { AlertingConfig, AlertRuleConfig } from './schema.js';
import type { Silences } from './silences.js';
import { renderTemplate } from './template.js';

/** How long a resolved alert stays in the list the dashboard shows. */
const RESOLVED_RETENTION_MS = 5 * 60_000;

interface Instance {
  readonly key: string;
  readonly rule: string;
  readonly fingerprint: string;
  labels: Readonly<Record<string, string>>;
  value: number;
  state: 'pending' | 'firing' | 'resolved';
  /** When it entered its state. */
  since: number;
  /** When the condition last held. */
  lastTrueAt: number;
  firedAt: number;
  resolvedAt: number | null;
  /** The last state receivers were told about (null: none yet). */
  notified: 'firing' | 'resolved' | null;
  lastNotifiedAt: number;
  silencedBy: string | null;
}

/** What the engine hands on; the service wires these to the queue and the action runner. */
export interface EngineOutputs {
  notify(n: Notification): void;
  act(rule: AlertRuleConfig, event: ActionEvent): void;
}

/** An alert receivers were told is firing, as kept across restarts. */
export interface PersistedAlert {
  readonly key: string;
  readonly rule: string;
  /** The rule's condition when it fired; a different one after the restart drops the alert. */
  readonly condition: string;
  readonly fingerprint: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly firedAt: number;
  readonly lastNotifiedAt: number;
}

/**
 * Where the alerts receivers were told about are kept, so that after a restart a
 * still-firing alert is not announced again and one that ended is announced resolved.
 */
export interface AlertStateStore {
  load(): readonly PersistedAlert[];
  save(alerts: readonly PersistedAlert[]): void;
}

/**
 * @example
 * const engine = new AlertEngine(config.alerts, stats, silences, logger, { notify, act });
 * engine.start();   // evaluates on every stats tick
 * gw.alerts = engine;
 */
export class AlertEngine implements AlertsView {
  private config: AlertingConfig;
  private readonly instances = new Map<string, Instance>();
  private unsubscribe: (() => void) | null = null;
  private savedState = '[]';

  constructor(
    config: AlertingConfig,
    private readonly source: StatsSource,
    private readonly silences: Silences,
    private readonly logger: Logger,
    private readonly outputs: EngineOutputs,
    private readonly store: AlertStateStore | null = null,
    now = Date.now(),
  ) {
    this.config = config;
    this.restore(now);
  }

  /** Takes back the alerts a previous run announced as firing (same rule, same condition). */
  private restore(now: number): void {
    if (this.store === null) return;
    let restored = 0;
    for (const p of this.store.load()) {
      const rule = this.rule(p.rule);
      if (rule === undefined || conditionSignature(rule) !== p.condition) continue;
      // As if the condition held until now: it resolves (and is announced so) if it no longer does.
      this.instances.set(p.key, {
        key: p.key,
        rule: p.rule,
        fingerprint: p.fingerprint,
        labels: p.labels,
        value: p.value,
        state: 'firing',
        since: p.firedAt,
        lastTrueAt: now,
        firedAt: p.firedAt,
        resolvedAt: null,
        notified: 'firing',
        lastNotifiedAt: p.lastNotifiedAt,
        silencedBy: null,
      });
      restored++;
    }
    if (restored > 0) this.logger.info({ restored }, 'alerts announced as firing before the restart are tracked again');
    this.persist();
  }

  /** Saves the alerts receivers were told are firing, when that set changed. */
  private persist(): void {
    if (this.store === null) return;
    const list: PersistedAlert[] = [];
    for (const i of this.instances.values()) {
      const rule = this.rule(i.rule);
      if (rule === undefined || i.state !== 'firing' || i.notified !== 'firing') continue;
      list.push({ key: i.key, rule: i.rule, condition: conditionSignature(rule), fingerprint: i.fingerprint, labels: i.labels, value: i.value, firedAt: i.firedAt, lastNotifiedAt: i.lastNotifiedAt });
    }
    const text = JSON.stringify(list.map((p) => [p.key, p.lastNotifiedAt]));
    if (text === this.savedState) return;
    this.savedState = text;
    try {
      this.store.save(list);
    } catch (error) {
      this.logger.warn({ err: error }, 'cannot save the alert state; after a restart, alerts still firing are announced again');
    }
  }

  /** Evaluates on each tick of the stats source. */
  start(): void {
    if (this.unsubscribe !== null) return;
    this.unsubscribe = this.source.subscribe(() => {
      try {
        this.evaluate();
      } catch (error) {
        // A bug in one evaluation must not stop alerting (nor the stats ticker's other listeners).
        this.logger.error({ err: error }, 'alert evaluation failed');
      }
    });
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /**
   * Takes a new config: rules whose condition is unchanged keep their alerts (a pending
   * one keeps counting towards `for`, a firing one is not notified again), even when
   * their texts, severity, labels or actions changed. Rules whose condition changed, and
   * removed rules, start over; receivers that were told they fire are told they resolved,
   * so no alert stays open forever on their side.
   */
  update(config: AlertingConfig, now = Date.now()): void {
    const before = new Map(this.config.rules.map((r) => [r.name, r]));
    const after = new Map(config.rules.map((r) => [r.name, conditionSignature(r)]));
    const closed: Array<{ rule: AlertRuleConfig; inst: Instance }> = [];
    for (const [key, inst] of this.instances) {
      const old = before.get(inst.rule);
      if (old !== undefined && conditionSignature(old) === after.get(inst.rule)) continue;
      this.instances.delete(key);
      if (old !== undefined && inst.state === 'firing' && inst.notified === 'firing' && inst.silencedBy === null) closed.push({ rule: old, inst });
    }
    this.config = config;
    if (closed.length > 0) this.logger.info({ closed: closed.length }, 'alerts of rules changed or removed by the reload are closed as resolved');
    for (const { rule, inst } of closed) {
      inst.state = 'resolved';
      inst.resolvedAt = now;
      this.route(`${rule.name}\u0000reload`, {}, [this.notified(rule, inst)], false, now);
    }
    this.persist();
  }

  /** One evaluation of every rule (called each second; tests call it with their own clock). */
  evaluate(now = Date.now()): void {
    const snaps = new Map<number, StatsSnapshot>();
    const snapshot = (windowS: number): StatsSnapshot => {
      let s = snaps.get(windowS);
      if (s === undefined) {
        s = this.source.snapshot(windowS);
        snaps.set(windowS, s);
      }
      return s;
    };
    const changed: Instance[] = [];
    for (const rule of this.config.rules) {
      // Non-windowed metrics read the structure only; any snapshot will do, so share one.
      const snap = snapshot(rule.expr.windowS === 0 ? (snaps.keys().next().value ?? 60) : rule.expr.windowS);
      const seen = new Set<string>();
      for (const sample of samples(rule.expr, snap)) {
        const identity = identityLabels(sample.labels);
        const key = `${rule.name}\u0000${JSON.stringify(identity)}`;
        seen.add(key);
        let inst = this.instances.get(key);
        const holds = inst?.state === 'firing' ? this.stillFiring(rule, sample.value) : compare(sample.value, rule.expr.op, rule.expr.threshold);
        const labels = { ...rule.labels, ...sample.labels };
        if (inst === undefined) {
          if (!holds) continue;
          inst = {
            key,
            rule: rule.name,
            fingerprint: createHash('sha256').update(key).digest('hex').slice(0, 16),
            labels,
            value: sample.value,
            state: 'pending',
            since: now,
            lastTrueAt: now,
            firedAt: 0,
            resolvedAt: null,
            notified: null,
            lastNotifiedAt: 0,
            silencedBy: null,
          };
          this.instances.set(key, inst);
        }
        inst.labels = labels;
        inst.value = sample.value;
        if (this.step(rule, inst, holds, now)) changed.push(inst);
      }
      // An instance with no sample any more (target removed, no traffic) counts as false.
      for (const inst of this.instances.values()) {
        if (inst.rule !== rule.name || seen.has(inst.key)) continue;
        if (this.step(rule, inst, false, now)) changed.push(inst);
      }
    }
    // Forget resolved alerts after a while, and instances of rules that no longer exist.
    const names = new Set(this.config.rules.map((r) => r.name));
    for (const [key, inst] of this.instances) {
      if (!names.has(inst.rule) || (inst.state === 'resolved' && inst.resolvedAt !== null && now - inst.resolvedAt > RESOLVED_RETENTION_MS)) this.instances.delete(key);
    }
    for (const inst of this.instances.values()) inst.silencedBy = inst.state === 'pending' ? null : this.silences.match(silenceLabels(inst, this.rule(inst.rule)), now);
    this.dispatch(now, new Set(changed));
    this.persist();
  }

  /** Returns true when the instance changed to firing or resolved. */
  private step(rule: AlertRuleConfig, inst: Instance, holds: boolean, now: number): boolean {
    if (holds) inst.lastTrueAt = now;
    if (inst.state === 'resolved') {
      if (!holds) return false;
      // Back to pending; a `for` of 0 fires in this same evaluation.
      inst.state = 'pending';
      inst.since = now;
      inst.resolvedAt = null;
    }
    switch (inst.state) {
      case 'pending':
        if (!holds) {
          this.instances.delete(inst.key);
          return false;
        }
        if (now - inst.since >= rule.forMs) {
          inst.state = 'firing';
          inst.since = now;
          inst.firedAt = now;
          this.logger.warn({ rule: rule.name, labels: inst.labels, value: inst.value, severity: rule.severity }, `alert firing: ${rule.name}`);
          return true;
        }
        return false;
      case 'firing':
        if (holds || now - inst.lastTrueAt < rule.keepFiringForMs) return false;
        inst.state = 'resolved';
        inst.since = now;
        inst.resolvedAt = now;
        this.logger.info({ rule: rule.name, labels: inst.labels, value: inst.value }, `alert resolved: ${rule.name}`);
        return true;
    }
  }

  /** While firing: the condition, or with hysteresis, "not yet past the resolve threshold". */
  private stillFiring(rule: AlertRuleConfig, value: number): boolean {
    const t = rule.resolveThreshold;
    if (t === null) return compare(value, rule.expr.op, rule.expr.threshold);
    return rule.expr.op === '>' || rule.expr.op === '>=' ? value >= t : value <= t;
  }

  private rule(name: string): AlertRuleConfig | undefined {
    return this.config.rules.find((r) => r.name === name);
  }

  /** Groups what changed (and reminders due) into notifications, and runs actions. */
  private dispatch(now: number, changed: ReadonlySet<Instance>): void {
    const groups = new Map<string, { rule: AlertRuleConfig; groupLabels: Record<string, string>; toSend: Instance[]; firing: Instance[]; repeat: boolean }>();
    for (const inst of this.instances.values()) {
      const rule = this.rule(inst.rule);
      if (rule === undefined || inst.state === 'pending') continue;
      const silenced = inst.silencedBy !== null;
      if (changed.has(inst) && !silenced) this.outputs.act(rule, this.event(rule, inst));
      const groupLabels: Record<string, string> = {};
      for (const l of rule.groupBy) groupLabels[l] = inst.labels[l] ?? '';
      const gkey = `${rule.name}\u0000${JSON.stringify(groupLabels)}`;
      let g = groups.get(gkey);
      if (g === undefined) {
        g = { rule, groupLabels, toSend: [], firing: [], repeat: false };
        groups.set(gkey, g);
      }
      if (inst.state === 'firing' && !silenced) g.firing.push(inst);
      if (silenced) {
        // A silenced alert is not notified; its resolution then needs no notice either.
        if (inst.state === 'resolved') inst.notified = 'resolved';
        continue;
      }
      if (inst.state === 'firing' && inst.notified !== 'firing') g.toSend.push(inst);
      else if (inst.state === 'resolved' && inst.notified === 'firing') g.toSend.push(inst);
      else if (inst.state === 'firing' && rule.repeatIntervalMs > 0 && now - inst.lastNotifiedAt >= rule.repeatIntervalMs) {
        g.toSend.push(inst);
        g.repeat = true;
      }
    }
    for (const [gkey, g] of groups) {
      if (g.toSend.length === 0) continue;
      // A group's notification lists every alert of the group still firing, plus those just resolved.
      const resolved = g.toSend.filter((i) => i.state === 'resolved');
      const list = [...g.firing, ...resolved];
      const repeat = g.repeat && g.toSend.every((i) => i.state === 'firing' && i.notified === 'firing');
      for (const i of g.toSend) {
        i.notified = i.state === 'firing' ? 'firing' : 'resolved';
        i.lastNotifiedAt = now;
      }
      for (const i of g.firing) i.lastNotifiedAt = now;
      const alerts = list.map((i) => this.notified(g.rule, i));
      this.route(gkey, g.groupLabels, alerts, repeat, now);
    }
  }

  private route(groupKey: string, groupLabels: Record<string, string>, alerts: NotifiedAlert[], repeat: boolean, now: number): void {
    const receivers = this.config.receivers;
    const names = Object.keys(receivers);
    if (names.length === 0) return;
    const perReceiver = new Map<string, NotifiedAlert[]>();
    for (const a of alerts) {
      const targets = new Set<string>();
      if (this.config.routes.length === 0) for (const n of names) targets.add(n);
      for (const route of this.config.routes) {
        if (route.severity.length > 0 && !route.severity.includes(a.severity)) continue;
        const labels: Record<string, string> = { ...a.labels, rule: a.rule, severity: a.severity };
        if (!Object.entries(route.labels).every(([k, re]) => labels[k] !== undefined && re.test(labels[k]!))) continue;
        for (const r of route.receivers) targets.add(r);
        if (!route.continue) break;
      }
      for (const t of targets) {
        if (!Object.hasOwn(receivers, t)) continue;
        if (a.state === 'resolved' && !receivers[t]!.sendResolved) continue;
        const list = perReceiver.get(t) ?? [];
        list.push(a);
        perReceiver.set(t, list);
      }
    }
    for (const [receiver, list] of perReceiver) {
      if (list.length === 0) continue;
      this.outputs.notify({
        id: randomUUID(),
        receiver,
        createdAt: now,
        groupKey,
        groupLabels,
        status: list.some((a) => a.state === 'firing') ? 'firing' : 'resolved',
        alerts: list,
        dashboardUrl: this.config.dashboardUrl,
        repeat,
      });
    }
  }

  private texts(rule: AlertRuleConfig, inst: Instance): { value: string; threshold: string; summary: string; message: string } {
    // A boolean metric has no threshold worth showing: "breaker open: yes".
    const value = rule.expr.unit === 'bool' ? (compare(inst.value, rule.expr.op, rule.expr.threshold) ? 'yes' : 'no') : formatValue(inst.value, rule.expr.unit);
    const threshold = rule.expr.unit === 'bool' ? '' : `${rule.expr.op} ${formatValue(rule.expr.threshold, rule.expr.unit)}`;
    const data = { rule: rule.name, severity: rule.severity, state: inst.state, value, threshold, labels: inst.labels };
    return { value, threshold, summary: renderTemplate(rule.summary, data), message: renderTemplate(rule.message, data) };
  }

  private notified(rule: AlertRuleConfig, inst: Instance): NotifiedAlert {
    const t = this.texts(rule, inst);
    return {
      rule: rule.name,
      severity: rule.severity,
      state: inst.state === 'resolved' ? 'resolved' : 'firing',
      labels: inst.labels,
      value: t.value,
      threshold: t.threshold,
      summary: t.summary,
      message: t.message,
      startsAt: inst.firedAt,
      endsAt: inst.resolvedAt,
      fingerprint: inst.fingerprint,
    };
  }

  private event(rule: AlertRuleConfig, inst: Instance): ActionEvent {
    const t = this.texts(rule, inst);
    return { rule: rule.name, state: inst.state === 'resolved' ? 'resolved' : 'firing', severity: rule.severity, value: t.value, summary: t.summary, labels: inst.labels, fingerprint: inst.fingerprint };
  }

  /** Pending and firing alerts, and those resolved in the last five minutes. */
  list(): readonly AlertSummary[] {
    const out: AlertSummary[] = [];
    for (const inst of this.instances.values()) {
      const rule = this.rule(inst.rule);
      if (rule === undefined) continue;
      out.push({ rule: rule.name, severity: rule.severity, state: inst.state, since: inst.since, message: this.texts(rule, inst).summary, labels: inst.labels, silenced: inst.silencedBy !== null });
    }
    const order = { firing: 0, pending: 1, resolved: 2 } as const;
    return out.sort((a, b) => order[a.state] - order[b.state] || b.since - a.since);
  }

  /** The rules in force, for the admin API. */
  rules(): ReadonlyArray<{ name: string; expr: string; for: number; severity: string; builtin: boolean }> {
    return this.config.rules.map((r) => ({ name: r.name, expr: r.expr.source, for: r.forMs, severity: r.severity, builtin: r.builtin }));
  }
}

/** Labels that identify an instance: without those that change while it lasts (reason, health). */
function identityLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(labels).sort()) if (!VOLATILE_LABELS.has(k)) out[k] = labels[k]!;
  return out;
}

function silenceLabels(inst: Instance, rule: AlertRuleConfig | undefined): Record<string, string> {
  return { ...inst.labels, rule: inst.rule, ...(rule === undefined ? {} : { severity: rule.severity }) };
}

/** What decides whether an alert holds: a change here restarts the rule's alerts on reload. */
function conditionSignature(r: AlertRuleConfig): string {
  return JSON.stringify([r.expr.source, r.forMs, r.keepFiringForMs, r.resolveThreshold]);
}
