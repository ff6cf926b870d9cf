import type { IncomingMessage } from 'node:http';
import type { TracingConfig } from '../config/types.js';
import type { ExchangeRecord, PlanRecord } from '../core/exchange-record.js';
import type { ClientRequest } from '../core/http.js';
import type { Logger } from './logger.js';
import { OtlpExporter, type ExportStats } from './otlp-exporter.js';

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const STATUS_ERROR = 2;

/**
 * Records the spans of sampled requests and hands them to the OTLP exporter: one server
 * span per request (the gateway's), one client span per upstream try (its parent is the
 * server span; its id is the one sent to the target in `traceparent`). Only built when
 * `tracing.otlp` is configured; the proxy calls it for sampled requests only, once, when
 * the request ends. Each span is encoded to its OTLP JSON text right away, so the queue
 * holds compact strings, not requests.
 *
 * Attributes follow the OpenTelemetry HTTP semantic conventions (v1.2x): `http.request.method`,
 * `url.path`, `url.scheme`, `http.route`, `http.response.status_code`, `server.address`,
 * `server.port`, `client.address`, `error.type`, `http.request.resend_count`; plus
 * `brisk.route`, `brisk.upstream`, `brisk.target`, `brisk.request_id`. The query string is
 * never recorded: it often carries tokens.
 */
export class Tracer {
  readonly exporter: OtlpExporter;

  private encodeErrorLogged = false;

  constructor(
    readonly config: TracingConfig,
    private readonly logger: Logger,
    version: string,
  ) {
    this.exporter = new OtlpExporter(config.otlp!, config.serviceName, version, logger);
  }

  private onEncodeError(err: unknown): void {
    if (this.encodeErrorLogged) return;
    this.encodeErrorLogged = true;
    this.logger.error({ err }, 'a span could not be encoded (a bug in Brisk); further ones are dropped silently');
  }

  stats(): ExportStats {
    return this.exporter.stats();
  }

  shutdown(timeoutMs: number): Promise<void> {
    return this.exporter.shutdown(timeoutMs);
  }

  /** The spans of one finished request: its server span and one client span per try. */
  recordExchange(ex: ExchangeRecord): void {
    // Called from Exchange.finish(): a bug here must cost a span, never the request's cleanup.
    try {
      this.encodeExchange(ex);
    } catch (err) {
      this.onEncodeError(err);
    }
  }

  private encodeExchange(ex: ExchangeRecord): void {
    const end = performance.now();
    const req = ex.req;
    const method = req.method ?? 'GET';
    const tries = ex.tries;
    this.exporter.push(serverSpan(ex, req, method, ex.started, end, ex.status, ex.errorCode, tries === null ? 0 : tries.length, ex.answeredBy?.origin));
    if (tries === null) return;
    const upstream = ex.upstream?.name;
    for (let i = 0; i < tries.length; i++) {
      const a = tries[i]!;
      this.exporter.push(clientSpan(ex, method, a.spanId, a.target.origin, a.target.basePath, upstream, i, a.started, a.endedAt === 0 ? end : a.endedAt, a.status, a.errorType));
    }
  }

  /** The spans of a WebSocket (or other `Upgrade`) request, once its tunnel has closed or the handshake failed. */
  recordUpgrade(plan: PlanRecord, req: IncomingMessage, trySpanId: string, started: number, status: number, error: string | null): void {
    try {
      this.encodeUpgrade(plan, req, trySpanId, started, status, error);
    } catch (err) {
      this.onEncodeError(err);
    }
  }

  private encodeUpgrade(plan: PlanRecord, req: IncomingMessage, trySpanId: string, started: number, status: number, error: string | null): void {
    const end = performance.now();
    const method = req.method ?? 'GET';
    const origin = plan.target?.origin;
    this.exporter.push(serverSpan(plan, req, method, started, end, status, error, trySpanId === '' ? 0 : 1, origin));
    if (trySpanId !== '' && plan.target !== null) {
      this.exporter.push(clientSpan(plan, method, trySpanId, plan.target.origin, plan.target.basePath, plan.upstream?.name, 0, started, end, status, error));
    }
  }
}

function serverSpan(plan: PlanRecord, req: ClientRequest, method: string, start: number, end: number, status: number, error: string | null, tries: number, target: string | undefined): string {
  const route = plan.route;
  const template = route?.template;
  let path = plan.path;
  if (path === '') {
    // Refused before routing: the path was not split from the query yet.
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    path = q === -1 ? url : url.slice(0, q);
  }
  const socket = req.socket as { encrypted?: boolean } | null;
  let attrs = str('http.request.method', method) + ',' + str('url.path', path) + ',' + str('url.scheme', socket?.encrypted === true ? 'https' : 'http');
  const host = req.headers.host ?? (req.headers[':authority'] as string | undefined);
  if (host !== undefined) {
    const [name, port] = splitHostPort(host);
    attrs += ',' + str('server.address', name);
    if (port !== 0) attrs += ',' + int('server.port', port);
  }
  if (plan.clientIp !== '') attrs += ',' + str('client.address', plan.clientIp);
  attrs += ',' + str('network.protocol.version', req.httpVersion === '2.0' ? '2' : req.httpVersion);
  if (template !== undefined) attrs += ',' + str('http.route', template);
  if (status > 0) attrs += ',' + int('http.response.status_code', status);
  if (route !== null) attrs += ',' + str('brisk.route', route.name);
  if (plan.upstream !== null) attrs += ',' + str('brisk.upstream', plan.upstream.name);
  if (target !== undefined) attrs += ',' + str('brisk.target', target);
  if (plan.requestId !== undefined) attrs += ',' + str('brisk.request_id', plan.requestId);
  if (tries > 1) attrs += ',' + int('brisk.attempts', tries);
  // Server spans: 5xx is an error, 4xx is the client's (semantic conventions); a Brisk code is always named.
  const errorType = error ?? (status >= 500 ? String(status) : null);
  if (errorType !== null) attrs += ',' + str('error.type', errorType);
  const name = template === undefined ? method : `${method} ${template}`;
  return span(plan.traceId!, plan.spanId, plan.parentSpanId, name, SPAN_KIND_SERVER, start, end, attrs, status >= 500 || status === 0 ? errorType ?? 'error' : null);
}

function clientSpan(
  plan: PlanRecord,
  method: string,
  spanId: string,
  origin: string,
  basePath: string,
  upstream: string | undefined,
  index: number,
  start: number,
  end: number,
  status: number,
  error: string | null,
): string {
  const [host, port] = originHostPort(origin);
  let attrs = str('http.request.method', method) + ',' + str('server.address', host);
  if (port !== 0) attrs += ',' + int('server.port', port);
  const path = plan.pathAndQuery;
  const q = path.indexOf('?');
  attrs += ',' + str('url.full', origin + basePath + (q === -1 ? path : path.slice(0, q)));
  if (status > 0) attrs += ',' + int('http.response.status_code', status);
  if (index > 0) attrs += ',' + int('http.request.resend_count', index);
  if (upstream !== undefined) attrs += ',' + str('brisk.upstream', upstream);
  attrs += ',' + str('brisk.target', origin);
  // Client spans: any 4xx/5xx the target answered is an error (semantic conventions).
  const errorType = error ?? (status >= 400 ? String(status) : null);
  if (errorType !== null) attrs += ',' + str('error.type', errorType);
  return span(plan.traceId!, spanId, plan.spanId, method, SPAN_KIND_CLIENT, start, end, attrs, errorType !== null && errorType !== 'cancelled' ? errorType : null);
}

function span(traceId: string, spanId: string, parentSpanId: string, name: string, kind: number, start: number, end: number, attrs: string, error: string | null): string {
  let s = `{"traceId":"${traceId}","spanId":"${spanId}"`;
  if (parentSpanId !== '') s += `,"parentSpanId":"${parentSpanId}"`;
  s += `,"name":${json(name)},"kind":${kind},"startTimeUnixNano":"${unixNano(start)}","endTimeUnixNano":"${unixNano(end)}","attributes":[${attrs}]`;
  if (error !== null) s += `,"status":{"code":${STATUS_ERROR},"message":${json(error)}}`;
  return s + '}';
}

/**
 * A `performance.now()` reading as nanoseconds since the epoch, as the decimal string OTLP
 * JSON wants for 64-bit integers. Microseconds since the epoch (1.7e15) are still exact
 * integers in a double (below 2^53), so the value is rounded to the microsecond and three
 * zeros are appended: no BigInt, no padding, and no span needs finer than a microsecond.
 */
export function unixNano(perfMs: number): string {
  return `${Math.round((TIME_ORIGIN + perfMs) * 1000)}000`;
}

/** `performance.timeOrigin` is a getter that calls into the runtime; it never changes. */
const TIME_ORIGIN = performance.timeOrigin;

/** A low-cardinality template for `http.route`: the route's path pattern. */
const originCache = new Map<string, [string, number]>();

/** Host and port of a target origin (`http://10.0.0.1:8080`), cached: targets are few. */
function originHostPort(origin: string): [string, number] {
  let hp = originCache.get(origin);
  if (hp === undefined) {
    const url = new URL(origin);
    hp = [url.hostname.replace(/^\[|\]$/g, ''), Number(url.port) || (url.protocol === 'https:' ? 443 : 80)];
    if (originCache.size < 1024) originCache.set(origin, hp);
  }
  return hp;
}

function splitHostPort(host: string): [string, number] {
  const colon = host.lastIndexOf(':');
  if (colon === -1 || host.endsWith(']')) return [host.replace(/^\[|\]$/g, ''), 0];
  return [host.slice(0, colon).replace(/^\[|\]$/g, ''), Number(host.slice(colon + 1)) || 0];
}

function str(key: string, value: string): string {
  return `{"key":"${key}","value":{"stringValue":${json(value)}}}`;
}

function int(key: string, value: number): string {
  return `{"key":"${key}","value":{"intValue":"${value}"}}`;
}

/** JSON string literal; the common path (printable ASCII without quotes or backslashes) skips the serializer. */
function json(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(s);
  }
  return `"${s}"`;
}
