/**
 * Aggregate routes at run time: compiled once per config version (`compileAggregate`),
 * run per request (the route's `RouteTerminal`) after the route's middlewares. Each part goes through
 * `upstreamRequest` (balancer, retries, breaker, limits, health); the parts are scheduled
 * by `DagRun`; the answers are merged into one JSON object.
 */
import { PartCache, type CachedAnswer } from './part-cache.js';
import { formatTraceparent, newSpanId } from '../observability/trace-context.js';
import { setMaxListeners } from 'node:events';
import type { ErrorCode } from '../core/errors.js';
import type { RouteTerminal, TerminalContext } from '../core/middleware.js';
import type { Logger } from '../observability/logger.js';
import type { HeaderEditor } from '../router/index.js';
import { upstreamRequest, UpstreamRequestError, type UpstreamResponse } from '../upstreams/client.js';
import type { Upstream } from '../upstreams/upstream.js';
import { dagShape, DagRun, type DagShape } from './scheduler.js';
import type { AggregateConfig, AggregatePartConfig } from './schema.js';
import { parseReference, parseTemplate, render, resolveRef, type PartTemplate, type Ref, type TemplateScope } from './template.js';

/** One part, ready to run. */
interface CompiledPart {
  readonly config: AggregatePartConfig;
  readonly index: number;
  readonly upstream: Upstream;
  readonly path: PartTemplate;
  /** Header names (lower case) and value templates, flat. */
  readonly headers: readonly (readonly [string, PartTemplate])[];
  readonly forEach: Ref | null;
  /** Index of the `into` holder part, and the fields below it; -1 when not nested. */
  readonly intoPart: number;
  readonly intoFields: readonly string[];
}

/** What an aggregate route takes from its route and the gateway, fixed per config version. */
export interface AggregateRouteContext {
  readonly routeName: string;
  /** The route's `timeouts.total` (0: none). */
  readonly totalMs: number;
  /** The route's response header edits, or null. */
  readonly responseHeaderEdits: HeaderEditor | null;
  /** `proxy.deadlineHeader`: told to each part, never copied from the client. */
  readonly deadlineHeader: string | false;
  readonly logger: Logger;
}

/** An aggregate route, compiled for one config version: the route's terminal step. */
export interface AggregateRoute extends RouteTerminal {
  readonly route: AggregateRouteContext;
  readonly parts: readonly CompiledPart[];
  readonly shape: DagShape;
  /** Part indexes in file order (the order of keys in the answer). */
  readonly answerOrder: readonly number[];
  readonly maxFanOut: number;
  readonly readsQuery: boolean;
  /** The parts' response cache (`aggregate.cache`); null when off. */
  readonly cache: PartCache | null;
}

/** Entry of the answer's `errors` list. */
export interface PartError {
  readonly part: string;
  readonly code: ErrorCode;
  /** The target's status when it answered, else the status the code stands for. */
  readonly status: number;
  readonly message: string;
}

/** Builds the runtime form; the loader has checked every name and template. */
export function compileAggregate(config: AggregateConfig, upstreams: ReadonlyMap<string, Upstream>, route: AggregateRouteContext): AggregateRoute {
  const index = new Map(config.parts.map((p, i) => [p.name, i]));
  let readsQuery = false;
  const parts = config.parts.map((p, i): CompiledPart => {
    const upstream = upstreams.get(p.upstream);
    if (upstream === undefined) throw new Error(`aggregate part "${p.name}" names unknown upstream "${p.upstream}"`);
    const path = parseTemplate(p.path, 'path');
    const headers = Object.entries(p.headers).map(([n, v]) => [n, parseTemplate(v, 'value')] as const);
    for (const t of [path, ...headers.map((h) => h[1])]) if (t.refs.some((r) => r.source === 'query')) readsQuery = true;
    const into = p.into?.split('.') ?? [];
    return {
      config: p,
      index: i,
      upstream,
      path,
      headers,
      forEach: p.forEach === undefined ? null : parseReference(p.forEach),
      intoPart: into.length === 0 ? -1 : index.get(into[0]!)!,
      intoFields: into.slice(1),
    };
  });
  const shape = dagShape(config.parts.map((p) => p.dependsOn.map((d) => index.get(d)!)));
  const cache = config.cache === null ? null : new PartCache(config.cache.maxBytes, config.cache.defaultTtlS);
  const compiled: AggregateRoute = {
    route,
    parts,
    shape,
    answerOrder: config.order.map((n) => index.get(n)!),
    maxFanOut: config.maxFanOut,
    readsQuery,
    cache,
    run: (ctx) => new AggregateRun(compiled, ctx).begin(),
  };
  return compiled;
}

/**
 * Request headers that must not reach a part: a part has no body, wants the plain JSON
 * (no compression it would have to undo, no 304 or 206 for conditions meant for the
 * aggregate), and gets its own `Host`.
 */
const DROPPED = new Set(['host', 'content-length', 'content-type', 'transfer-encoding', 'accept-encoding', 'range', 'if-range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'expect', 'te']);

class AggregateRun implements TemplateScope {
  private readonly results: unknown[];
  private errors: PartError[] | null = null;
  private readonly controller = new AbortController();
  private readonly run: DagRun;
  private readonly baseHeaders: string[];
  private readonly host: string | undefined;
  private queryParams: URLSearchParams | null = null;
  private done = false;
  item: unknown = undefined;

  constructor(
    private readonly agg: AggregateRoute,
    private readonly ex: TerminalContext,
  ) {
    const n = agg.parts.length;
    this.results = new Array<unknown>(n).fill(null);
    this.run = new DagRun(agg.shape, {
      start: (i) => this.startPart(i),
      skip: (i, failed) => this.onSkip(i, failed),
      finished: () => this.answer(),
    });
    // The forwarding headers the planner built (X-Forwarded-*, Forwarded, Via, the request
    // id, route header edits, the client's own headers such as Authorization and traceparent).
    const planned = ex.headers;
    const deadline = agg.route.deadlineHeader;
    const base: string[] = [];
    let host: string | undefined;
    for (let i = 0; i < planned.length; i += 2) {
      const name = planned[i]!;
      const lower = name.toLowerCase();
      if (lower === 'host') host = planned[i + 1];
      if (DROPPED.has(lower) || lower === deadline) continue;
      // The parts are one client span of the gateway's trace (the slot is filled per try for proxied requests).
      if (lower === 'traceparent' && ex.traceId !== undefined) base.push(name, formatTraceparent(ex.traceId, newSpanId(), ex.sampled));
      else base.push(name, planned[i + 1]!);
    }
    this.baseHeaders = base;
    this.host = host;
    if (agg.readsQuery && ex.query !== '') this.queryParams = new URLSearchParams(ex.query);
    // Every part request listens on the one signal (a fan-out adds one listener per
    // element): not a leak, so no MaxListenersExceededWarning.
    setMaxListeners(0, this.controller.signal);
  }

  begin(): void {
    // The client may leave while parts run (the exchange then ends with 499): nothing more
    // is started or sent. After an answer this runs again and finds nothing to do.
    this.ex.onFinish(() => {
      if (!this.done) this.finish();
    });
    const total = this.agg.route.totalMs;
    if (total > 0) this.timer = setTimeout(() => this.onDeadline(total), total);
    this.run.begin();
  }

  private timer: NodeJS.Timeout | null = null;

  /** Nothing more is started, what runs is cancelled. */
  private finish(): void {
    this.done = true;
    this.run.stop();
    this.controller.abort();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** The route's `timeouts.total` passed: the answer is a 504 naming the parts still running. */
  private onDeadline(ms: number): void {
    this.timer = null;
    if (this.done) return;
    const running = this.agg.parts.filter((p) => this.run.isRunning(p.index)).map((p) => `"${p.config.name}"`);
    this.finish();
    const message = `the aggregate answer took longer than the route's timeouts.total (${ms}ms); still running: part${running.length === 1 ? '' : 's'} ${running.join(', ')}`;
    this.ex.answer({ status: 504, code: 'BRISK_AGGREGATE_PART_TIMEOUT', message, headers: ['x-brisk-aggregate-part', running.join(',').replaceAll('"', '')] });
  }

  // ---- TemplateScope -----------------------------------------------------------------

  param(name: string): string | undefined {
    const params = this.ex.params;
    return params !== null && Object.hasOwn(params, name) ? params[name] : undefined;
  }

  query(name: string): string | undefined {
    return this.queryParams?.get(name) ?? undefined;
  }

  header(name: string): string | undefined {
    const v = this.ex.req.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  }

  part(name: string): unknown {
    for (const p of this.agg.parts) if (p.config.name === name) return this.results[p.index];
    return undefined;
  }

  // ---- parts -------------------------------------------------------------------------

  private startPart(i: number): void {
    const part = this.agg.parts[i]!;
    if (part.forEach === null) {
      let path: string;
      let headers: string[];
      try {
        path = render(part.path, this, 'path');
        headers = this.headersFor(part);
      } catch (error) {
        this.partFailed(part, 'BRISK_AGGREGATE_PART_SKIPPED', 0, `part "${part.config.name}" not requested: ${(error as Error).message}`);
        return;
      }
      this.request(part, path, headers).then(
        (value) => this.partSucceeded(part, value),
        (err: unknown) => this.requestFailed(part, err),
      );
      return;
    }
    const list = resolveRef(part.forEach, this);
    if (!Array.isArray(list)) {
      this.partFailed(part, 'BRISK_AGGREGATE_PART_SKIPPED', 0, `part "${part.config.name}" not requested: forEach ${part.forEach.text} is not a list`);
      return;
    }
    if (list.length > this.agg.maxFanOut) {
      this.partFailed(part, 'BRISK_AGGREGATE_PART_FAILED', 0, `part "${part.config.name}": forEach ${part.forEach.text} has ${list.length} elements, more than maxFanOut (${this.agg.maxFanOut})`);
      return;
    }
    const requests: Promise<unknown>[] = [];
    try {
      for (const item of list) {
        this.item = item;
        requests.push(this.request(part, render(part.path, this, 'path'), this.headersFor(part)));
      }
    } catch (error) {
      this.item = undefined;
      ignoreOutcome(requests);
      this.partFailed(part, 'BRISK_AGGREGATE_PART_SKIPPED', 0, `part "${part.config.name}" not requested: ${(error as Error).message}`);
      return;
    } finally {
      this.item = undefined;
    }
    Promise.all(requests).then(
      (values) => this.partSucceeded(part, values),
      (err: unknown) => this.requestFailed(part, err),
    );
  }

  private headersFor(part: CompiledPart): string[] {
    const own = part.headers;
    if (own.length === 0) return this.baseHeaders;
    const out: string[] = [];
    const base = this.baseHeaders;
    for (let i = 0; i < base.length; i += 2) {
      const lower = base[i]!.toLowerCase();
      if (own.some((h) => h[0] === lower)) continue;
      out.push(base[i]!, base[i + 1]!);
    }
    for (const [name, t] of own) out.push(name, render(t, this, 'value'));
    return out;
  }

  /** One request of a part; resolves with the parsed JSON of a 2xx answer. */
  private async request(part: CompiledPart, path: string, headers: string[]): Promise<unknown> {
    const c = part.config;
    const cache = this.agg.cache;
    if (cache !== null && c.cache && c.method === 'GET') {
      // Requests with credentials get responses stored only when those are marked for sharing.
      let shared = true;
      for (let i = 0; i < headers.length; i += 2) {
        const name = headers[i]!.toLowerCase();
        if (name === 'authorization' || name === 'cookie') shared = false;
      }
      // The part's own headers (templates) are sent last; their values are part of what was asked.
      let key = `${part.upstream.name} ${path}`;
      for (let i = headers.length - part.headers.length * 2; i < headers.length; i += 2) key += `\n${headers[i]!}: ${headers[i + 1]!}`;
      const answer = await cache.get(key, shared, () => this.send(part, path, headers));
      return parseAnswer(part, path, answer);
    }
    return parseAnswer(part, path, await this.send(part, path, headers));
  }

  private send(part: CompiledPart, path: string, headers: string[]): Promise<UpstreamResponse> {
    const c = part.config;
    return upstreamRequest(part.upstream, {
      method: c.method,
      path,
      headers,
      ...(this.host === undefined ? {} : { host: this.host }),
      timeoutMs: c.timeoutMs,
      signal: this.controller.signal,
      maxBodyBytes: c.maxBodySize,
      deadlineHeader: this.agg.route.deadlineHeader,
    });
  }

  private partSucceeded(part: CompiledPart, value: unknown): void {
    if (this.done) return;
    this.results[part.index] = value;
    this.run.done(part.index, true);
  }

  private requestFailed(part: CompiledPart, err: unknown): void {
    if (this.done) return;
    if (err instanceof PartAnswerError) {
      this.partFailed(part, err.code, err.status, err.message);
      return;
    }
    if (err instanceof UpstreamRequestError) {
      if (err.cancelled) return;
      const code: ErrorCode = err.code === 'BRISK_UPSTREAM_TOTAL_TIMEOUT' ? 'BRISK_AGGREGATE_PART_TIMEOUT' : err.code;
      const message = code === 'BRISK_AGGREGATE_PART_TIMEOUT' ? `part "${part.config.name}": no complete answer from upstream "${err.upstream}" within ${part.config.timeoutMs}ms` : `part "${part.config.name}": ${err.message}`;
      this.partFailed(part, code, err.status, message);
      return;
    }
    this.agg.route.logger.error({ err, requestId: this.ex.requestId, route: this.agg.route.routeName, part: part.config.name }, 'aggregate part failed unexpectedly');
    this.partFailed(part, 'BRISK_INTERNAL', 500, `part "${part.config.name}" failed inside the gateway; see the gateway log`);
  }

  private partFailed(part: CompiledPart, code: ErrorCode, status: number, message: string): void {
    if (this.done) return;
    if (part.config.required) {
      this.failRequired(part, code, message, status);
      return;
    }
    (this.errors ??= []).push({ part: part.config.name, code, status: status === 0 ? 502 : status, message });
    this.run.done(part.index, false);
  }

  private onSkip(i: number, failed: number): void {
    if (this.done) return;
    const part = this.agg.parts[i]!;
    const dep = this.agg.parts[failed]!.config.name;
    this.partFailed(part, 'BRISK_AGGREGATE_PART_SKIPPED', 0, `part "${part.config.name}" not requested: part "${dep}" it depends on failed`);
  }

  /** A required part failed: the whole answer is an error naming it; the other parts are cancelled. */
  private failRequired(part: CompiledPart, cause: ErrorCode, message: string, status = 0): void {
    this.finish();
    if (cause === 'BRISK_AGGREGATE_PART_STATUS' && (status === 404 || status === 410)) {
      // The thing the answer is built around does not exist: that is the client's answer, not a gateway failure.
      this.ex.answer({ status, code: 'BRISK_AGGREGATE_PART_NOT_FOUND', message: `required ${message}`, headers: ['x-brisk-aggregate-part', part.config.name] });
      return;
    }
    const code: ErrorCode = cause === 'BRISK_AGGREGATE_PART_TIMEOUT' ? 'BRISK_AGGREGATE_PART_TIMEOUT' : 'BRISK_AGGREGATE_PART_FAILED';
    const text = cause === code ? message : `${message} (${cause})`;
    this.ex.answer({ status: code === 'BRISK_AGGREGATE_PART_TIMEOUT' ? 504 : 502, code, message: `required ${text}`, headers: ['x-brisk-aggregate-part', part.config.name] });
  }

  // ---- the answer --------------------------------------------------------------------

  private answer(): void {
    if (this.done) return;
    this.finish();
    const out: Record<string, unknown> = {};
    const parts = this.agg.parts;
    for (const i of this.agg.answerOrder) {
      const part = parts[i]!;
      const c = part.config;
      if (c.hidden) continue;
      const value = this.results[i];
      if (c.merge && isObject(value)) {
        for (const k of Object.keys(value)) put(out, k, value[k]);
        continue;
      }
      if (part.intoPart !== -1) {
        const holder = holderOf(this.results[part.intoPart], part.intoFields);
        if (holder !== null) {
          put(holder, part.intoFields[part.intoFields.length - 1]!, value);
          continue;
        }
      }
      put(out, c.name, value);
    }
    if (this.errors !== null) put(out, 'errors', this.errors);
    const body = JSON.stringify(out);
    const headers: string[] = ['content-type', 'application/json; charset=utf-8'];
    const ex = this.ex;
    const edits = this.agg.route.responseHeaderEdits;
    if (edits !== null) edits.apply(headers, ex.params, ex.requestId!);
    ex.answer({ status: 200, headers, body });
  }
}

class PartAnswerError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function parseAnswer(part: CompiledPart, path: string, res: CachedAnswer): unknown {
  const name = part.config.name;
  if (res.status < 200 || res.status > 299) {
    throw new PartAnswerError('BRISK_AGGREGATE_PART_STATUS', res.status, `part "${name}": upstream "${part.upstream.name}" answered ${res.status} to ${part.config.method} ${path}`);
  }
  if (res.body.length === 0 || part.config.method === 'HEAD' || res.status === 204) return null;
  try {
    return JSON.parse(res.body.toString('utf8')) as unknown;
  } catch {
    throw new PartAnswerError('BRISK_AGGREGATE_PART_NOT_JSON', 502, `part "${name}": upstream "${part.upstream.name}" answered ${res.status} to ${part.config.method} ${path}, but the body is not JSON`);
  }
}

/** Requests already sent for a fan-out that could not be completed finish (or are cancelled with the run); their outcome is ignored. */
function ignoreOutcome(requests: readonly Promise<unknown>[]): void {
  for (const r of requests) r.catch(() => {});
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The object that gets the nested result: the holder's JSON, down all fields but the last (created when missing). */
function holderOf(root: unknown, fields: readonly string[]): Record<string, unknown> | null {
  if (!isObject(root)) return null;
  let v: Record<string, unknown> = root;
  for (let i = 0; i < fields.length - 1; i++) {
    const f = fields[i]!;
    const next = Object.hasOwn(v, f) ? v[f] : undefined;
    if (next === undefined) {
      const created: Record<string, unknown> = {};
      put(v, f, created);
      v = created;
    } else if (isObject(next)) v = next;
    else return null;
  }
  return v;
}

/** An own property even for `__proto__`: keys come from backends and config. */
function put(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
