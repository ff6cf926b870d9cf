/**
 * The top-level `alerts` key: its schema (one source for the JSON Schema, the generated
 * docs and the raw type) and the normaliser that turns it into the {@link AlertingConfig}
 * the engine runs: expressions parsed, templates checked, default rules merged in,
 * receivers and routes resolved. The config normaliser adopts it with the path prefix
 * `['alerts']`.
 *
 * @example
 * ```yaml
 * alerts:
 *   dashboardUrl: http://127.0.0.1:9901/
 *   receivers:
 *     oncall: { type: dingtalk, webhook: "https://oapi.dingtalk.com/robot/send?access_token=…", secret: SEC…, language: zh }
 *   routes:
 *     - { severity: [critical], receivers: [oncall] }
 *   rules:
 *     - name: checkout-errors
 *       expr: error_ratio(route="checkout", window="5m") > 5%
 *       for: 1m
 *       severity: critical
 *       summary: "Checkout fails {{value}} of requests (over {{threshold}})"
 * ```
 */
import { isAbsolute, resolve } from 'node:path';
import { Type, type Static } from '../config/type-builder.js';
import { didYouMean } from '../config/did-you-mean.js';
import type { PathProblem, PathSegment } from '../config/positions.js';
import { MAX_DURATION_MS, durationMs } from '../config/units.js';
import { DEFAULT_RULES } from './defaults.js';
import { Action, Labels, NAME, Rule, Severity, type RawAlertRule } from './rule-schema.js';
import { ExprError, parseExpr, type AlertExpr } from './expr.js';
import { templateProblem } from './template.js';
import { Duration, Strict } from '../config/schema-kit.js';

const Receiver = Strict(
  {
    type: Type.Union([Type.Literal('webhook'), Type.Literal('slack'), Type.Literal('dingtalk'), Type.Literal('feishu'), Type.Literal('wecom')], {
      description: '`webhook` (generic JSON), `slack` (Slack-compatible incoming webhook: Slack, Mattermost, Rocket.Chat), `dingtalk`, `feishu` (Feishu/Lark), `wecom` (WeCom group robot).',
    }),
    webhook: Type.String({ pattern: '^https?://', description: 'The webhook URL. It usually carries the token; it is never logged and `/api/config` redacts it.' }),
    secret: Type.Optional(Type.String({ minLength: 1, description: 'Signing secret (`dingtalk`: the robot\'s "SEC…" secret; `feishu`: the signature key). Never logged.' })),
    language: Type.Optional(Type.Union([Type.Literal('en'), Type.Literal('zh')], { default: 'en', description: 'Language of the message: `en` or `zh`.' })),
    headers: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String(), { description: 'Extra request headers (`webhook`, `slack`).' })),
    sendResolved: Type.Optional(Type.Boolean({ default: true, description: 'Also notify when alerts resolve.' })),
    timeout: Type.Optional(Duration('Longest wait for the receiver to answer one delivery.', '10s')),
  },
  'Where notifications go.',
);

const AlertRoute = Strict(
  {
    receivers: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Names of receivers that get the matching alerts.' }),
    severity: Type.Optional(Type.Array(Severity, { description: 'Only alerts of these severities; default: all.' })),
    labels: Type.Optional(Labels('Only alerts whose labels match all of these (`*` matches any run of characters).')),
    continue: Type.Optional(Type.Boolean({ default: false, description: 'Keep looking at the next routes after this one matched.' })),
  },
  'Sends matching alerts to receivers. Routes are tried in order; the first match wins unless it says `continue`.',
);

/** The schema of the top-level `alerts` key. */
export const AlertsSchema = Strict(
  {
    enabled: Type.Optional(Type.Boolean({ default: true, description: 'Evaluate alert rules (the built-in defaults included).' })),
    defaultRules: Type.Optional(Type.Boolean({ default: true, description: 'Include the built-in rules (no healthy target, target unhealthy, breaker open, error ratio, a service with a problem, stale discovery, event-loop lag, host CPU, memory, disk).' })),
    dashboardUrl: Type.Optional(Type.String({ pattern: '^https?://', description: 'A link to the dashboard, put in every notification.' })),
    repeatInterval: Type.Optional(Duration('Notify again about alerts still firing after this long; `0` never repeats.', '4h')),
    rules: Type.Optional(Type.Array(Rule, { description: 'Alert rules; a rule named like a default rule overrides it.' })),
    receivers: Type.Optional(Type.Record(Type.String({ pattern: NAME }), Receiver, { description: 'Named receivers.' })),
    routes: Type.Optional(Type.Array(AlertRoute, { description: 'Which alerts go to which receivers. Without routes, every receiver gets every alert.' })),
    queue: Type.Optional(
      Strict(
        {
          dir: Type.Optional(Type.String({ minLength: 1, default: './.brisk/alerts', description: 'Directory of the delivery queue, relative to the config file. Notifications are written here before they are sent and removed once delivered.' })),
          maxItems: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000, description: 'Most notifications waiting; past it new ones are dropped with an error log.' })),
          maxAge: Type.Optional(Duration('A notification not delivered after this long is dropped with an error log.', '24h')),
          initialBackoff: Type.Optional(Duration('Wait before the first retry; it doubles on each failure (with jitter).', '1s')),
          maxBackoff: Type.Optional(Duration('Longest wait between two retries.', '5m')),
        },
        'The on-disk delivery queue.',
      ),
    ),
  },
  'Alert rules over the gateway\'s own metrics, and where notifications go. See docs/alerting.md.',
);

export type RawAlerts = Static<typeof AlertsSchema>;
type RawAction = Static<typeof Action>;

export type Severity = 'critical' | 'warning' | 'info';

interface ActionTiming {
  readonly timeoutMs: number;
  readonly onResolve: boolean;
  readonly minIntervalMs: number;
}

export type ActionConfig =
  | ({ readonly kind: 'command'; readonly command: readonly string[]; readonly env: Readonly<Record<string, string>> } & ActionTiming)
  | ({ readonly kind: 'webhook'; readonly webhookUrl: string; readonly headers: Readonly<Record<string, string>> } & ActionTiming)
  | ({ readonly kind: 'restart'; readonly service: string } & ActionTiming)
  | ({ readonly kind: 'scale'; readonly service: string; readonly by: number | null; readonly to: number | null } & ActionTiming);

/** A normalised rule. */
export interface AlertRuleConfig {
  readonly name: string;
  readonly expr: AlertExpr;
  readonly forMs: number;
  readonly keepFiringForMs: number;
  /** In the metric's unit; null: resolve as soon as the condition is false. */
  readonly resolveThreshold: number | null;
  readonly severity: Severity;
  readonly labels: Readonly<Record<string, string>>;
  readonly summary: string;
  readonly message: string;
  readonly groupBy: readonly string[];
  readonly repeatIntervalMs: number;
  readonly actions: readonly ActionConfig[];
  /** Whether this is (or overrides) a built-in rule. */
  readonly builtin: boolean;
}

export type ReceiverType = 'webhook' | 'slack' | 'dingtalk' | 'feishu' | 'wecom';

export interface ReceiverConfig {
  readonly name: string;
  readonly type: ReceiverType;
  /** Named so that config redaction (`webhook`) hides it: it carries the token. */
  readonly webhookUrl: string;
  readonly secret: string | null;
  readonly language: 'en' | 'zh';
  readonly headers: Readonly<Record<string, string>>;
  readonly sendResolved: boolean;
  readonly timeoutMs: number;
}

export interface AlertRouteConfig {
  readonly receivers: readonly string[];
  readonly severity: readonly Severity[];
  readonly labels: Readonly<Record<string, RegExp>>;
  readonly continue: boolean;
}

export interface AlertQueueConfig {
  readonly dir: string;
  readonly maxItems: number;
  readonly maxAgeMs: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

/** The normalised `alerts` key. */
export interface AlertingConfig {
  readonly enabled: boolean;
  readonly dashboardUrl: string | null;
  readonly repeatIntervalMs: number;
  readonly rules: readonly AlertRuleConfig[];
  readonly receivers: Readonly<Record<string, ReceiverConfig>>;
  /** Empty: every receiver gets every alert. */
  readonly routes: readonly AlertRouteConfig[];
  readonly queue: AlertQueueConfig;
}

export const ALERT_DEFAULTS = {
  repeatIntervalMs: 4 * 3_600_000,
  queueDir: './.brisk/alerts',
  maxItems: 10_000,
  maxAgeMs: 24 * 3_600_000,
  initialBackoffMs: 1000,
  maxBackoffMs: 5 * 60_000,
  receiverTimeoutMs: 10_000,
  actionTimeoutMs: 10_000,
  actionMinIntervalMs: 5 * 60_000,
} as const;

/** A glob (`*` = any run of characters) as an anchored regex. */
export function globToRegex(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/**
 * Checks and normalises `alerts` (absent: defaults only). Problem paths are relative to
 * the `alerts` key; `config` is set only when there are none. `services`: the names under
 * `services`, which `restart` and `scale` actions must name (unchecked when undefined).
 *
 * @example
 * const { config } = normalizeAlerts(undefined, process.cwd());
 * config.rules.map((r) => r.name) // the default rules
 */
export function normalizeAlerts(raw: RawAlerts | undefined, baseDir: string, services?: readonly string[]): { config?: AlertingConfig; problems: PathProblem[]; warnings: PathProblem[] } {
  const problems: PathProblem[] = [];
  const warnings: PathProblem[] = [];
  const problem = (path: readonly PathSegment[], message: string, at: 'key' | 'value' = 'value') => problems.push({ path, message, at });
  const r = raw ?? {};
  const dur = (path: readonly PathSegment[], v: string | number | undefined, def: number): number => {
    if (v === undefined) return def;
    const ms = durationMs(v);
    if (ms === undefined || ms > MAX_DURATION_MS) {
      problem(path, 'the duration is too long; the longest is 24 days ("576h")');
      return def;
    }
    return ms;
  };

  const repeatIntervalMs = dur(['repeatInterval'], r.repeatInterval, ALERT_DEFAULTS.repeatIntervalMs);

  // Rules: the defaults first (unless turned off), overridden key by key by rules of the same name.
  const userRules = r.rules ?? [];
  const byName = new Map<string, number>();
  userRules.forEach((rule, i) => {
    const earlier = byName.get(rule.name);
    if (earlier !== undefined) problem(['rules', i, 'name'], `BRISK_ALERT_RULE_INVALID: rule name ${JSON.stringify(rule.name)} is already used by rules.${earlier}; rename one`);
    else byName.set(rule.name, i);
  });
  const merged: Array<{ raw: RawAlertRule; index: number | null; builtin: boolean }> = [];
  const useDefaults = r.defaultRules ?? true;
  for (const d of DEFAULT_RULES) {
    const i = byName.get(d.name);
    if (i !== undefined) merged.push({ raw: { ...d, ...userRules[i]! }, index: i, builtin: true });
    else if (useDefaults) merged.push({ raw: d, index: null, builtin: true });
  }
  userRules.forEach((rule, i) => {
    if (!DEFAULT_RULES.some((d) => d.name === rule.name)) merged.push({ raw: rule, index: i, builtin: false });
  });

  const rules: AlertRuleConfig[] = [];
  for (const { raw: rule, index, builtin } of merged) {
    if (rule.enabled === false) continue;
    const at: PathSegment[] = index === null ? ['defaultRules'] : ['rules', index];
    if (rule.expr === undefined) {
      problem(at, `BRISK_ALERT_RULE_INVALID: rule ${JSON.stringify(rule.name)} has no \`expr\`; add one, e.g. expr: error_ratio(route="*", window="5m") > 5%`, 'key');
      continue;
    }
    let expr: AlertExpr;
    try {
      expr = parseExpr(rule.expr);
    } catch (error) {
      if (!(error instanceof ExprError)) throw error;
      problem([...at, 'expr'], exprMessage(rule.expr, error));
      continue;
    }
    let resolveThreshold: number | null = null;
    if (rule.resolveThreshold !== undefined) {
      try {
        resolveThreshold = parseExpr(`${expr.metric} > ${String(rule.resolveThreshold)}`).threshold;
      } catch (error) {
        problem([...at, 'resolveThreshold'], `BRISK_ALERT_RULE_INVALID: ${(error as Error).message.replace(/"[^"]*" does not apply/, `${JSON.stringify(String(rule.resolveThreshold))} does not apply`)}`);
      }
      if (expr.op === '==' || expr.op === '!=') problem([...at, 'resolveThreshold'], 'BRISK_ALERT_RULE_INVALID: resolveThreshold needs a rule that compares with <, <=, > or >=', 'key');
    }
    const summary = rule.summary ?? defaultSummary(expr);
    for (const key of ['summary', 'message'] as const) {
      const text = rule[key];
      if (text === undefined) continue;
      const bad = templateProblem(text);
      if (bad !== null) problem([...at, key], `BRISK_ALERT_RULE_INVALID: ${bad}`);
    }
    const actions: ActionConfig[] = [];
    (rule.actions ?? []).forEach((a: RawAction, j) => {
      const aAt = [...at, 'actions', j];
      const timeoutMs = dur([...aAt, 'timeout'], a.timeout, ALERT_DEFAULTS.actionTimeoutMs);
      const minIntervalMs = dur([...aAt, 'minInterval'], a.minInterval, ALERT_DEFAULTS.actionMinIntervalMs);
      const onResolve = a.onResolve ?? false;
      const kinds = [a.command, a.webhook, a.restart, a.scale].filter((k) => k !== undefined).length;
      if (kinds !== 1) {
        problem(aAt, 'BRISK_ALERT_RULE_INVALID: an action has exactly one of `command` (an argv array), `webhook` (a URL), `restart` (a service) or `scale` (a service, with `by` or `to`)', 'key');
        return;
      }
      const service = a.restart ?? a.scale;
      if (service !== undefined) {
        const key = a.restart !== undefined ? 'restart' : 'scale';
        if (services !== undefined && !services.includes(service)) problem([...aAt, key], `BRISK_ALERT_RULE_INVALID: unknown service ${JSON.stringify(service)}, not declared under services${didYouMean(service, services)}`);
        if (a.scale !== undefined && (a.by === undefined) === (a.to === undefined)) problem(aAt, 'BRISK_ALERT_RULE_INVALID: a `scale` action has exactly one of `by` (+1, -1) or `to` (a count)', 'key');
        if (a.restart !== undefined && (a.by !== undefined || a.to !== undefined)) warnings.push({ path: [...aAt, a.by !== undefined ? 'by' : 'to'], message: 'ignored: by and to apply to `scale` actions', at: 'key' });
        actions.push(a.restart !== undefined ? { kind: 'restart', service, timeoutMs, onResolve, minIntervalMs } : { kind: 'scale', service, by: a.by ?? null, to: a.to ?? null, timeoutMs, onResolve, minIntervalMs });
        return;
      }
      if (a.command !== undefined) {
        if (a.headers !== undefined) warnings.push({ path: [...aAt, 'headers'], message: 'ignored: headers apply to `webhook` actions', at: 'key' });
        actions.push({ kind: 'command', command: a.command, env: a.env ?? {}, timeoutMs, onResolve, minIntervalMs });
      } else {
        if (a.env !== undefined) warnings.push({ path: [...aAt, 'env'], message: 'ignored: env applies to `command` actions', at: 'key' });
        actions.push({ kind: 'webhook', webhookUrl: a.webhook!, headers: a.headers ?? {}, timeoutMs, onResolve, minIntervalMs });
      }
    });
    rules.push({
      name: rule.name,
      expr,
      forMs: dur([...at, 'for'], rule.for, 0),
      keepFiringForMs: dur([...at, 'keepFiringFor'], rule.keepFiringFor, 0),
      resolveThreshold,
      severity: rule.severity ?? 'warning',
      labels: rule.labels ?? {},
      summary,
      message: rule.message ?? '',
      groupBy: rule.groupBy ?? [],
      repeatIntervalMs: dur([...at, 'repeatInterval'], rule.repeatInterval, repeatIntervalMs),
      actions,
      builtin,
    });
  }

  const receivers: Record<string, ReceiverConfig> = {};
  for (const [name, rc] of Object.entries(r.receivers ?? {})) {
    try {
      const u = new URL(rc.webhook);
      if (u.hostname === '') throw new Error('no host');
    } catch {
      problem(['receivers', name, 'webhook'], `BRISK_ALERT_RULE_INVALID: receiver ${JSON.stringify(name)} has an invalid webhook URL`);
    }
    if (rc.secret !== undefined && rc.type !== 'dingtalk' && rc.type !== 'feishu') {
      warnings.push({ path: ['receivers', name, 'secret'], message: `ignored: a ${rc.type} receiver is not signed (secret applies to dingtalk and feishu)`, at: 'key' });
    }
    Object.defineProperty(receivers, name, {
      enumerable: true,
      value: {
        name,
        type: rc.type,
        webhookUrl: rc.webhook,
        secret: rc.secret ?? null,
        language: rc.language ?? 'en',
        headers: rc.headers ?? {},
        sendResolved: rc.sendResolved ?? true,
        timeoutMs: dur(['receivers', name, 'timeout'], rc.timeout, ALERT_DEFAULTS.receiverTimeoutMs),
      } satisfies ReceiverConfig,
    });
  }
  const receiverNames = Object.keys(receivers);
  const routes: AlertRouteConfig[] = (r.routes ?? []).map((route, i) => {
    route.receivers.forEach((name, j) => {
      if (!Object.hasOwn(receivers, name)) problem(['routes', i, 'receivers', j], `BRISK_ALERT_RULE_INVALID: unknown receiver ${JSON.stringify(name)}, not declared under alerts.receivers${didYouMean(name, receiverNames)}`);
    });
    const labels: Record<string, RegExp> = {};
    for (const [k, v] of Object.entries(route.labels ?? {})) Object.defineProperty(labels, k, { enumerable: true, value: globToRegex(v) });
    return { receivers: route.receivers, severity: route.severity ?? [], labels, continue: route.continue ?? false };
  });
  if (routes.length > 0 && receiverNames.length === 0) warnings.push({ path: ['routes'], message: 'ignored: there are no receivers', at: 'key' });

  const q = r.queue ?? {};
  const dirText = q.dir ?? ALERT_DEFAULTS.queueDir;
  const queue: AlertQueueConfig = {
    dir: isAbsolute(dirText) ? dirText : resolve(baseDir, dirText),
    maxItems: q.maxItems ?? ALERT_DEFAULTS.maxItems,
    maxAgeMs: dur(['queue', 'maxAge'], q.maxAge, ALERT_DEFAULTS.maxAgeMs),
    initialBackoffMs: Math.max(10, dur(['queue', 'initialBackoff'], q.initialBackoff, ALERT_DEFAULTS.initialBackoffMs)),
    maxBackoffMs: Math.max(10, dur(['queue', 'maxBackoff'], q.maxBackoff, ALERT_DEFAULTS.maxBackoffMs)),
  };

  if (problems.length > 0) return { problems, warnings };
  return {
    config: { enabled: r.enabled ?? true, dashboardUrl: r.dashboardUrl ?? null, repeatIntervalMs, rules, receivers, routes, queue },
    problems,
    warnings,
  };
}

/** `BRISK_ALERT_EXPR_INVALID: column 1: … in `expr` with a caret under the fault. */
function exprMessage(src: string, error: ExprError): string {
  return `BRISK_ALERT_EXPR_INVALID: ${error.message} (at column ${error.column} of \`${src}\`, under the ^: ${src.slice(0, error.column - 1)}^${src.slice(error.column - 1)}); see docs/alerting.md for the metrics and syntax`;
}

function defaultSummary(expr: AlertExpr): string {
  const who =
    expr.scope === 'route'
      ? ' on route {{labels.route}}'
      : expr.scope === 'target'
        ? ' for {{labels.target}} ({{labels.upstream}})'
        : expr.scope === 'upstream'
          ? ' on upstream {{labels.upstream}}'
          : expr.scope === 'service'
            ? ' of service {{labels.service}}'
            : '';
  if (expr.unit === 'bool') return `${expr.metric}${who}`;
  return `${expr.metric}${who} is {{value}} (threshold {{threshold}})`;
}
