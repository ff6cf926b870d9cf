/**
 * The alert expression language: a small, safe language over Brisk's own metrics,
 * parsed once at config load and evaluated against a `StatsSnapshot` (never `eval`).
 *
 *     error_ratio(route="checkout", window="5m", min_requests=20) > 5%
 *     latency_p99(upstream="products", window="1m") > 500ms
 *     healthy_targets(upstream="*") < 2
 *     breaker_open(upstream="*")
 *     target_unhealthy(upstream="*")
 *     host_cpu > 80%
 *
 * An expression is one metric call, optionally compared with a threshold. A metric gives
 * one sample per matching route, upstream or target (with its labels) or one sample for
 * the gateway; each sample whose comparison holds is an alert instance. A metric without
 * a comparison is boolean (1 is true). Written by hand: a dozen metrics and six
 * operators do not justify a parser generator, and a hand-written parser gives
 * positioned messages ("column 14: unknown metric ...; did you mean ...?").
 */
import { didYouMean } from '../config/did-you-mean.js';
import type { StatsSnapshot, WindowStats } from '../observability/snapshot.js';

/** How a metric's value reads and which threshold units it takes. */
export type MetricUnit = 'ratio' | 'percent' | 'ms' | 'count' | 'bool' | 'bytes' | 'rate';

type Scope = 'route' | 'upstream' | 'target' | 'service' | 'gateway';

interface MetricDef {
  readonly unit: MetricUnit;
  /** Selector arguments accepted (besides window/min_requests). */
  readonly selectors: readonly ('route' | 'upstream' | 'target' | 'service')[];
  /** Whether the metric reads a request window (takes `window=` and `min_requests=`). */
  readonly windowed: boolean;
  readonly help: string;
}

const SEL_ALL = ['route', 'upstream', 'target'] as const;

/** Every metric an expression can read. Exported for the docs and the tests. */
export const METRICS: Readonly<Record<string, MetricDef>> = {
  error_ratio: { unit: 'ratio', selectors: SEL_ALL, windowed: true, help: 'Share of answers with status >= 500 over the window (0..1; write thresholds as `5%` or `0.05`).' },
  errors: { unit: 'count', selectors: SEL_ALL, windowed: true, help: 'Answers with status >= 500 over the window.' },
  requests: { unit: 'count', selectors: SEL_ALL, windowed: true, help: 'Requests over the window.' },
  rps: { unit: 'rate', selectors: SEL_ALL, windowed: true, help: 'Requests per second over the window.' },
  latency_p50: { unit: 'ms', selectors: SEL_ALL, windowed: true, help: 'Median latency over the window (no sample when there were no requests).' },
  latency_p95: { unit: 'ms', selectors: SEL_ALL, windowed: true, help: '95th percentile latency over the window.' },
  latency_p99: { unit: 'ms', selectors: SEL_ALL, windowed: true, help: '99th percentile latency over the window.' },
  healthy_targets: { unit: 'count', selectors: ['upstream'], windowed: false, help: 'Targets of the upstream that can take traffic.' },
  total_targets: { unit: 'count', selectors: ['upstream'], windowed: false, help: 'Targets of the upstream.' },
  unhealthy_targets: { unit: 'count', selectors: ['upstream'], windowed: false, help: 'Targets of the upstream that cannot take traffic (unhealthy or ejected).' },
  breaker_open: { unit: 'bool', selectors: ['upstream'], windowed: false, help: "1 while the upstream's circuit breaker is open (upstreams without a breaker give no sample)." },
  panic: { unit: 'bool', selectors: ['upstream'], windowed: false, help: '1 while the upstream is in panic mode (too few healthy targets; traffic goes to all).' },
  target_unhealthy: { unit: 'bool', selectors: ['upstream', 'target'], windowed: false, help: '1 per target that is unhealthy (failed health checks) or ejected (outlier detection); one alert instance per target.' },
  target_ejected: { unit: 'bool', selectors: ['upstream', 'target'], windowed: false, help: '1 per target ejected by outlier detection.' },
  host_cpu: { unit: 'percent', selectors: [], windowed: false, help: "The host's CPU, percent busy over the last second (all cores)." },
  host_memory: { unit: 'percent', selectors: [], windowed: false, help: "The host's memory in use, percent." },
  disk_used: { unit: 'percent', selectors: [], windowed: false, help: "The file system of the gateway's working directory, percent used." },
  event_loop_lag: { unit: 'ms', selectors: [], windowed: false, help: "The gateway's event-loop lag, p99 over the last second." },
  process_cpu: { unit: 'percent', selectors: [], windowed: false, help: 'CPU used by the gateway process, percent of one core.' },
  process_memory: { unit: 'bytes', selectors: [], windowed: false, help: 'Resident memory of the gateway process (write thresholds as `512mb`).' },
  shed_level: { unit: 'count', selectors: [], windowed: false, help: 'The gateway-wide load-shedding level (0: not shedding).' },
  service_problem: {
    unit: 'bool',
    selectors: ['service'],
    windowed: false,
    help: '1 per service Brisk runs that has a problem: a program that cannot start, a crash loop given up, an instance never ready, a port in use (labels `code` and `reason`).',
  },
  discovery_staleness: {
    unit: 'ms',
    selectors: ['upstream'],
    windowed: false,
    help: "How old the targets found by the upstream's discovery are: time since its provider last confirmed them (a registry that is down makes it grow while the last good targets keep serving). Labels `provider` and, while the provider fails, `code` and `reason`.",
  },
  service_ready_instances: { unit: 'count', selectors: ['service'], windowed: false, help: 'Instances of the service taking traffic.' },
  service_desired_instances: { unit: 'count', selectors: ['service'], windowed: false, help: 'Instances the supervisor keeps running for the service (the autoscaler moves it).' },
};

export type Comparator = '>' | '>=' | '<' | '<=' | '==' | '!=';

/** A glob over one label: `*` matches any run of characters. */
export interface LabelMatcher {
  readonly label: 'route' | 'upstream' | 'target' | 'service';
  readonly pattern: string;
  readonly regex: RegExp;
}

/** A parsed expression. */
export interface AlertExpr {
  readonly source: string;
  readonly metric: string;
  readonly unit: MetricUnit;
  readonly scope: Scope;
  readonly matchers: readonly LabelMatcher[];
  /** Seconds; 0 for metrics without a window. */
  readonly windowS: number;
  readonly minRequests: number;
  readonly op: Comparator;
  /** In the metric's unit (ratio 0..1, percent 0..100, ms, bytes, count). */
  readonly threshold: number;
  /** The threshold as written (`5%`, `500ms`), for messages. */
  readonly thresholdText: string;
}

/** One value of a metric with the labels that say what it is about. */
export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A parse error with its 1-based column in the expression. */
export class ExprError extends Error {
  constructor(
    message: string,
    readonly column: number,
  ) {
    super(message);
    this.name = 'ExprError';
  }
}

type Token =
  | { kind: 'ident'; text: string; pos: number }
  | { kind: 'string'; text: string; pos: number }
  | { kind: 'number'; value: number; unit: string; text: string; pos: number }
  | { kind: 'op'; text: Comparator; pos: number }
  | { kind: 'punct'; text: '(' | ')' | ',' | '='; pos: number }
  | { kind: 'end'; pos: number };

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (/[A-Za-z_]/.test(c)) {
      while (i < src.length && /[A-Za-z0-9_]/.test(src[i]!)) i++;
      tokens.push({ kind: 'ident', text: src.slice(start, i), pos: start });
      continue;
    }
    if (/[0-9.]/.test(c)) {
      while (i < src.length && /[0-9.]/.test(src[i]!)) i++;
      const num = src.slice(start, i);
      const unitStart = i;
      while (i < src.length && /[A-Za-z%]/.test(src[i]!)) i++;
      const value = Number(num);
      if (!/^\d+(\.\d+)?$|^\.\d+$/.test(num) || !Number.isFinite(value)) throw new ExprError(`invalid number ${JSON.stringify(num)}`, start + 1);
      tokens.push({ kind: 'number', value, unit: src.slice(unitStart, i).toLowerCase(), text: src.slice(start, i), pos: start });
      continue;
    }
    if (c === '"' || c === "'") {
      i++;
      let text = '';
      while (i < src.length && src[i] !== c) {
        if (src[i] === '\\' && i + 1 < src.length) i++;
        text += src[i];
        i++;
      }
      if (i >= src.length) throw new ExprError('unterminated string; close it with the same quote', start + 1);
      i++;
      tokens.push({ kind: 'string', text, pos: start });
      continue;
    }
    const two = src.slice(i, i + 2);
    if (two === '>=' || two === '<=' || two === '==' || two === '!=') {
      tokens.push({ kind: 'op', text: two, pos: start });
      i += 2;
      continue;
    }
    if (c === '>' || c === '<') {
      tokens.push({ kind: 'op', text: c, pos: start });
      i++;
      continue;
    }
    if (c === '(' || c === ')' || c === ',' || c === '=') {
      tokens.push({ kind: 'punct', text: c, pos: start });
      i++;
      continue;
    }
    throw new ExprError(`unexpected character ${JSON.stringify(c)}`, start + 1);
  }
  tokens.push({ kind: 'end', pos: src.length });
  return tokens;
}

const UNITS_FOR: Record<MetricUnit, Readonly<Record<string, number>>> = {
  ratio: { '': 1, '%': 0.01 },
  percent: { '': 1, '%': 1 },
  ms: { '': 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000 },
  count: { '': 1 },
  rate: { '': 1 },
  bool: { '': 1 },
  bytes: { '': 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 },
};

const UNIT_HINT: Record<MetricUnit, string> = {
  ratio: 'a ratio: write `5%` or `0.05`',
  percent: 'a percentage: write `80%` or `80`',
  ms: 'a duration: write `500ms`, `2s` or a number of milliseconds',
  count: 'a plain number',
  rate: 'a number per second',
  bool: '0 or 1',
  bytes: 'a size: write `512mb`, `1gb` or a number of bytes',
};

function globRegex(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/**
 * Parses an expression. Throws {@link ExprError} with the column of the fault.
 *
 * @example
 * const e = parseExpr('latency_p99(upstream="products", window="1m") > 500ms');
 * e.threshold // 500
 */
export function parseExpr(src: string): AlertExpr {
  const tokens = tokenize(src);
  let k = 0;
  const peek = () => tokens[k]!;
  const next = () => tokens[k++]!;
  const col = (t: Token) => t.pos + 1;
  const describe = (t: Token) => (t.kind === 'end' ? 'the end of the expression' : t.kind === 'number' ? t.text : t.kind === 'string' ? JSON.stringify(t.text) : t.text);

  const head = next();
  if (head.kind !== 'ident') throw new ExprError(`expected a metric name (${Object.keys(METRICS).slice(0, 4).join(', ')}, …), found ${describe(head)}`, col(head));
  const def = Object.hasOwn(METRICS, head.text) ? METRICS[head.text] : undefined;
  if (def === undefined) throw new ExprError(`unknown metric ${JSON.stringify(head.text)}${didYouMean(head.text, Object.keys(METRICS))}`, col(head));
  const matchers: LabelMatcher[] = [];
  let windowS = def.windowed ? 60 : 0;
  let minRequests = 0;
  if (peek().kind === 'punct' && (peek() as { text: string }).text === '(') {
    next();
    const seen = new Set<string>();
    while (!(peek().kind === 'punct' && (peek() as { text: string }).text === ')')) {
      const name = next();
      if (name.kind !== 'ident') throw new ExprError(`expected an argument name, found ${describe(name)}`, col(name));
      if (seen.has(name.text)) throw new ExprError(`argument ${name.text} is given twice`, col(name));
      seen.add(name.text);
      const eq = next();
      if (eq.kind !== 'punct' || eq.text !== '=') throw new ExprError(`expected "=" after ${name.text}, found ${describe(eq)}`, col(eq));
      const value = next();
      const allowed = [...def.selectors, ...(def.windowed ? ['window', 'min_requests'] : [])];
      if (!allowed.includes(name.text)) {
        throw new ExprError(
          allowed.length === 0 ? `${head.text} takes no arguments; write it bare: \`${head.text} > …\`` : `${head.text} takes ${allowed.join(', ')}; not ${name.text}${didYouMean(name.text, allowed)}`,
          col(name),
        );
      }
      if (name.text === 'window') {
        const ms = value.kind === 'string' ? durationOf(value.text) : value.kind === 'number' ? value.value * (UNITS_FOR.ms[value.unit] ?? NaN) : NaN;
        if (!Number.isFinite(ms) || ms < 1000 || ms > 3_600_000 || ms % 1000 !== 0) throw new ExprError('window must be whole seconds between "1s" and "1h", e.g. window="5m"', col(value));
        windowS = ms / 1000;
      } else if (name.text === 'min_requests') {
        if (value.kind !== 'number' || value.unit !== '' || !Number.isInteger(value.value)) throw new ExprError('min_requests must be a whole number, e.g. min_requests=20', col(value));
        minRequests = value.value;
      } else {
        if (value.kind !== 'string') throw new ExprError(`${name.text} takes a quoted name or pattern, e.g. ${name.text}="*"`, col(value));
        if (value.text === '') throw new ExprError(`${name.text} must not be empty; use "*" for all`, col(value));
        const label = name.text as LabelMatcher['label'];
        matchers.push({ label, pattern: value.text, regex: globRegex(value.text) });
      }
      const sep = peek();
      if (sep.kind === 'punct' && sep.text === ',') next();
      else if (!(sep.kind === 'punct' && sep.text === ')')) throw new ExprError(`expected "," or ")", found ${describe(sep)}`, col(sep));
    }
    next();
  }
  let op: Comparator = '==';
  let threshold = 1;
  let thresholdText = '1';
  const after = next();
  if (after.kind === 'op') {
    const num = next();
    if (num.kind !== 'number') throw new ExprError(`expected a threshold after ${after.text}, found ${describe(num)}`, col(num));
    const factor = UNITS_FOR[def.unit][num.unit];
    if (factor === undefined) throw new ExprError(`${head.text} is ${UNIT_HINT[def.unit]}; "${num.unit}" does not apply`, col(num) + num.text.length - num.unit.length);
    op = after.text;
    threshold = num.value * factor;
    thresholdText = num.text;
    const end = next();
    if (end.kind !== 'end') throw new ExprError(`unexpected ${describe(end)} after the threshold; an expression is one metric compared with one threshold`, col(end));
  } else if (after.kind === 'end') {
    if (def.unit !== 'bool') throw new ExprError(`${head.text} needs a comparison, e.g. \`${head.text} > …\` (${UNIT_HINT[def.unit]})`, col(after));
  } else {
    throw new ExprError(`expected a comparison (>, >=, <, <=, ==, !=), found ${describe(after)}`, col(after));
  }
  const labels = new Set(matchers.map((m) => m.label));
  let scope: Scope;
  if (def.selectors.length === 0) scope = 'gateway';
  else if (def.selectors.includes('service')) scope = 'service';
  else if (!def.windowed) scope = def.selectors.includes('target') ? 'target' : 'upstream';
  else if (labels.has('target')) scope = 'target';
  else if (labels.has('route')) scope = 'route';
  else scope = labels.has('upstream') ? 'upstream' : 'gateway';
  if (def.windowed && labels.has('route') && labels.has('target')) throw new ExprError('route and target cannot be combined; choose one', col(head));
  return { source: src, metric: head.text, unit: def.unit, scope, matchers, windowS, minRequests, op, threshold, thresholdText };
}

function durationOf(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (m === null) return NaN;
  return Number(m[1]) * (UNITS_FOR.ms[m[2] ?? ''] ?? NaN);
}

/** Whether `value op threshold` holds. */
export function compare(value: number, op: Comparator, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '==':
      return value === threshold;
    case '!=':
      return value !== threshold;
  }
}

function matches(expr: AlertExpr, labels: Readonly<Record<string, string>>): boolean {
  for (const m of expr.matchers) {
    const v = labels[m.label];
    if (v === undefined || !m.regex.test(v)) return false;
  }
  return true;
}

function windowValue(metric: string, w: WindowStats, minRequests: number): number | null {
  if (w.requests < minRequests) return null;
  switch (metric) {
    case 'error_ratio':
      return w.requests === 0 ? null : w.errorRatio;
    case 'errors':
      return w.errors;
    case 'requests':
      return w.requests;
    case 'rps':
      return w.rps;
    case 'latency_p50':
      return w.p50Ms;
    case 'latency_p95':
      return w.p95Ms;
    case 'latency_p99':
      return w.p99Ms;
    default:
      return null;
  }
}

/**
 * Every sample of the expression's metric in `snap` (which must hold request windows of
 * `expr.windowS` seconds for windowed metrics), filtered by its label matchers.
 */
export function samples(expr: AlertExpr, snap: StatsSnapshot): Sample[] {
  const out: Sample[] = [];
  const push = (labels: Record<string, string>, value: number | null) => {
    if (value !== null && Number.isFinite(value) && matches(expr, labels)) out.push({ labels, value });
  };
  const def = METRICS[expr.metric]!;
  if (def.windowed) {
    if (expr.scope === 'route') for (const r of snap.routes) push({ route: r.name, upstream: r.upstream }, windowValue(expr.metric, r.window, expr.minRequests));
    else if (expr.scope === 'upstream') for (const u of snap.upstreams) push({ upstream: u.name }, windowValue(expr.metric, u.window, expr.minRequests));
    else if (expr.scope === 'target') for (const t of snap.targets) push({ upstream: t.upstream, target: t.origin }, windowValue(expr.metric, t.window, expr.minRequests));
    else push({}, windowValue(expr.metric, snap.total, expr.minRequests));
    return out;
  }
  switch (expr.metric) {
    case 'healthy_targets':
      for (const u of snap.upstreams) push({ upstream: u.name }, u.healthyTargets);
      break;
    case 'total_targets':
      for (const u of snap.upstreams) push({ upstream: u.name }, u.totalTargets);
      break;
    case 'unhealthy_targets':
      for (const u of snap.upstreams) push({ upstream: u.name }, u.totalTargets - u.healthyTargets);
      break;
    case 'breaker_open':
      for (const u of snap.upstreams) if (u.breaker !== null) push({ upstream: u.name }, u.breaker === 'open' ? 1 : 0);
      break;
    case 'panic':
      for (const u of snap.upstreams) push({ upstream: u.name }, u.panic ? 1 : 0);
      break;
    case 'target_unhealthy':
      for (const t of snap.targets) push({ upstream: t.upstream, target: t.origin, health: t.health, ...(t.reason === null ? {} : { reason: t.reason }) }, t.health === 'unhealthy' || t.health === 'ejected' ? 1 : 0);
      break;
    case 'target_ejected':
      for (const t of snap.targets) push({ upstream: t.upstream, target: t.origin, ...(t.reason === null ? {} : { reason: t.reason }) }, t.health === 'ejected' ? 1 : 0);
      break;
    case 'host_cpu':
      push({}, snap.host.cpuPercent);
      break;
    case 'host_memory':
      push({}, snap.host.memoryUsedRatio * 100);
      break;
    case 'disk_used':
      push({}, snap.host.diskUsedRatio * 100);
      break;
    case 'event_loop_lag':
      push({}, snap.process.eventLoopLagMs);
      break;
    case 'process_cpu':
      push({}, snap.process.cpuPercent);
      break;
    case 'process_memory':
      push({}, snap.process.rssBytes);
      break;
    case 'shed_level':
      push({}, snap.shedLevel);
      break;
    case 'service_problem':
      for (const v of snap.services ?? []) push({ service: v.name, ...(v.problem === null ? {} : { code: v.problem.code, reason: v.problem.message }) }, v.problem === null ? 0 : 1);
      break;
    case 'discovery_staleness':
      for (const d of snap.discovery ?? []) push({ upstream: d.upstream, provider: d.provider, ...(d.problem === null ? {} : { code: d.problem.code, reason: d.problem.message }) }, d.stalenessS * 1000);
      break;
    case 'service_ready_instances':
      for (const v of snap.services ?? []) push({ service: v.name }, v.ready);
      break;
    case 'service_desired_instances':
      for (const v of snap.services ?? []) push({ service: v.name }, v.desired);
      break;
  }
  return out;
}

/** Labels that vary while an alert lasts and so are not part of its identity. */
export const VOLATILE_LABELS: ReadonlySet<string> = new Set(['reason', 'health', 'code']);

/** A value as people read it in the metric's unit: `7.3%`, `512ms`, `80.1%`, `3`. */
export function formatValue(value: number, unit: MetricUnit): string {
  const round = (n: number) => (Math.abs(n) >= 100 ? Math.round(n).toString() : Number(n.toFixed(2)).toString());
  switch (unit) {
    case 'ratio':
      return `${round(value * 100)}%`;
    case 'percent':
      return `${round(value)}%`;
    case 'ms':
      return value >= 10_000 ? `${round(value / 1000)}s` : `${round(value)}ms`;
    case 'bytes':
      return value >= 1024 ** 3 ? `${round(value / 1024 ** 3)}GB` : `${round(value / 1024 ** 2)}MB`;
    default:
      return round(value);
  }
}
