/**
 * The service bootstrap: an HTTP server (plain node:http) with liveness (`/healthz`),
 * readiness including the dependencies (`/readyz`), Prometheus metrics (`/metrics`),
 * JSON access logs, Brisk's request contract (deadline, request id, trace context) put
 * into the request context every part of the toolkit reads, graceful shutdown and
 * optional self-registration. See docs/service.md.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { collectDefaultMetrics } from 'prom-client';
import { runWithContext, traceFromHeaders, type RequestContext, type TraceContext } from '../context.js';
import { DEADLINE_HEADER, errorBodyText, parseDeadlineHeader, REQUEST_ID_HEADER, TRACEPARENT_HEADER, TRACESTATE_HEADER } from '../contracts.js';
import { ServiceError } from '../errors.js';
import { counter, defaultLogger, histogram, Registry, sleep, type Logger } from '../observability.js';
import { callService } from './outbound.js';
import { Registration, type RegistrationOptions } from './registration.js';
import { Router } from './router.js';

/** What a handler answers: `json(status, body)`, or any JSON value for a 200. */
export class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

/** A JSON answer with a status. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return new Reply(status, body, headers);
}

export interface HandlerContext {
  req: IncomingMessage;
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  requestId: string;
  trace: TraceContext;
  /** Absolute deadline (epoch ms). */
  deadline: number;
  signal: AbortSignal;
  log: Logger;
  /** The raw body (read once, at most `maxBodyBytes`). */
  rawBody(): Promise<Buffer>;
  /** The body parsed as JSON (`BRISK_SVC_BAD_REQUEST` when it is not). */
  body<T = unknown>(): Promise<T>;
  /** fetch that carries the deadline, request id and trace onward. */
  fetch: typeof callService;
}

export type Handler = (context: HandlerContext) => Promise<unknown>;

/**
 * Takes over an `Upgrade` request (a WebSocket, usually with the `ws` package's
 * `handleUpgrade`). The socket is the service's to track until it closes: at shutdown the
 * route's `drain` runs (close your sockets politely there), then what is left is cut.
 */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, params: Record<string, string>) => void;

/** Options of an upgrade route. */
export interface UpgradeOptions {
  /** Runs at shutdown, after the listener closed: say goodbye (WebSocket close 1001) and resolve. */
  drain?: () => Promise<void> | void;
}

/** A dependency: checked by readiness, closed at shutdown (after the server drained). */
export interface Dependency {
  check?: () => Promise<{ ok: boolean; detail?: string }>;
  close?: () => Promise<void>;
}

export interface ServiceOptions {
  name: string;
  /** Port (default `$PORT`, else 0 = any free port). */
  port?: number;
  /** Address to listen on (default `$HOST`, else 127.0.0.1). */
  host?: string;
  /** Deadline when Brisk sends none (default 30000 ms). */
  defaultTimeoutMs?: number;
  /** Request body limit (default 1 MiB). */
  maxBodyBytes?: number;
  /** How long in-flight requests may take to finish at shutdown (default 10000 ms). */
  drainTimeoutMs?: number;
  /** Wait between "not ready" and closing the listener, for balancers to notice (default 0). */
  drainDelayMs?: number;
  /** Register in Brisk's Redis registry. */
  registration?: RegistrationOptions;
  /** Stop on SIGTERM/SIGINT and exit (default true). */
  handleSignals?: boolean;
  logger?: Logger;
  registry?: Registry;
}

export class Service {
  readonly name: string;
  readonly registry: Registry;
  readonly log: Logger;
  readonly #router = new Router<Handler>();
  readonly #upgrades = new Router<UpgradeHandler>();
  readonly #upgradeDrains: (() => Promise<void> | void)[] = [];
  readonly #upgraded = new Set<Duplex>();
  readonly #dependencies = new Map<string, Dependency>();
  readonly #options: ServiceOptions;
  readonly #server: Server;
  readonly #requests;
  readonly #duration;
  #registration: Registration | undefined;
  #inFlight = 0;
  #draining = false;
  #stopping: Promise<void> | undefined;
  #signalHandler: (() => void) | undefined;

  constructor(options: ServiceOptions) {
    this.#options = options;
    this.name = options.name;
    this.log = options.logger ?? defaultLogger(options.name);
    this.registry = options.registry ?? new Registry();
    // Once per registry: two services sharing one would otherwise register them twice (and throw).
    if (this.registry.getSingleMetric('brisk_svc_process_cpu_user_seconds_total') === undefined) collectDefaultMetrics({ register: this.registry, prefix: 'brisk_svc_' });
    this.#requests = counter(this.registry, { name: 'brisk_svc_http_requests_total', help: 'Requests by route pattern, method and status', labelNames: ['route', 'method', 'status'] });
    this.#duration = histogram(this.registry, { name: 'brisk_svc_http_request_duration_seconds', help: 'Request time by route pattern', labelNames: ['route'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
    this.#server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
      // Nothing a client sends may crash the process: whatever escapes the handling below
      // (a request target no URL parser takes, a metrics collector that throws) is a 400/500.
      this.#handle(req, res).catch((error: unknown) => {
        const bad = error instanceof TypeError && /Invalid URL/i.test(error.message);
        if (!bad) this.log.error({ err: error instanceof Error ? error.message : String(error) }, 'service: request handling failed');
        if (!res.headersSent && !res.destroyed) {
          const code = bad ? 'BRISK_SVC_BAD_REQUEST' : 'BRISK_SVC_INTERNAL';
          const text = errorBodyText(code, bad ? 'the request target is not a valid path' : 'internal error', undefined);
          res.writeHead(bad ? 400 : 500, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), connection: 'close' });
          res.end(text);
        } else res.destroy();
      });
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
  }

  /** Adds a route: `service.route('GET', '/orders/:id', async (ctx) => …)`. */
  route(method: string, pattern: string, handler: Handler): this {
    this.#router.add(method, pattern, handler);
    return this;
  }

  /**
   * Adds an upgrade route (GET with `Upgrade:`): `service.upgrade('/chat', (req, socket,
   * head) => wss.handleUpgrade(req, socket, head, …))`. Unmatched upgrades get a 404,
   * upgrades while draining a 503, both as plain HTTP answers before the socket closes.
   */
  upgrade(pattern: string, handler: UpgradeHandler, options: UpgradeOptions = {}): this {
    this.#upgrades.add('GET', pattern, handler);
    if (options.drain !== undefined) this.#upgradeDrains.push(options.drain);
    return this;
  }

  /** Adds a dependency: its check joins readiness, its close runs at shutdown (in reverse order). */
  dependsOn(name: string, dependency: Dependency): this {
    this.#dependencies.set(name, dependency);
    return this;
  }

  /** The listener's URL once started. */
  get url(): string {
    const address = this.#server.address() as AddressInfo | null;
    if (address === null) throw new Error(`service "${this.name}" is not listening`);
    return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  async start(): Promise<this> {
    const port = this.#options.port ?? (process.env['PORT'] ? Number(process.env['PORT']) : 0);
    const host = this.#options.host ?? process.env['HOST'] ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    if (this.#options.registration !== undefined) {
      const url = this.#options.registration.advertiseUrl ?? this.url;
      this.#registration = new Registration(this.#options.registration, { service: this.name, id: process.env['BRISK_INSTANCE'] ?? `${process.pid}-${randomUUID().slice(0, 8)}`, url, host, port: this.port, startedAt: new Date().toISOString(), meta: this.#options.registration.meta ?? {} }, this.log);
      await this.#registration.start();
    }
    if (this.#options.handleSignals !== false) {
      this.#signalHandler = () => {
        this.log.info('service: signal received; draining');
        this.stop().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGTERM', this.#signalHandler);
      process.once('SIGINT', this.#signalHandler);
    }
    this.log.info({ url: this.url }, 'service: listening');
    return this;
  }

  /**
   * Graceful shutdown: readiness turns 503 and the instance leaves the registry; after
   * `drainDelayMs` the listener closes (idle keep-alive connections too); in-flight
   * requests finish within `drainTimeoutMs` (then their connections are cut); last, the
   * dependencies close in reverse order.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#draining = true;
      if (this.#signalHandler !== undefined) {
        process.off('SIGTERM', this.#signalHandler);
        process.off('SIGINT', this.#signalHandler);
      }
      await this.#registration?.stop();
      if ((this.#options.drainDelayMs ?? 0) > 0) await sleep(this.#options.drainDelayMs!);
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      this.#server.closeIdleConnections();
      const deadline = Date.now() + (this.#options.drainTimeoutMs ?? 10_000);
      while (this.#inFlight > 0 && Date.now() < deadline) await sleep(20);
      if (this.#inFlight > 0) this.log.warn({ inFlight: this.#inFlight }, 'service: drain timeout; cutting the remaining requests');
      this.#server.closeAllConnections();
      // Upgraded sockets are no longer the HTTP server's to close, yet the listener's close
      // waits for them: their owners say goodbye first, then whatever is left is cut.
      for (const drain of this.#upgradeDrains) {
        try {
          await Promise.race([drain(), sleep(this.#options.drainTimeoutMs ?? 10_000)]);
        } catch (error) {
          this.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'service: an upgrade drain failed');
        }
      }
      for (const socket of this.#upgraded) socket.destroy();
      await closed;
      for (const [name, dependency] of [...this.#dependencies].reverse()) {
        try {
          await dependency.close?.();
        } catch (error) {
          this.log.warn({ dependency: name, err: error instanceof Error ? error.message : String(error) }, 'service: a dependency failed to close');
        }
      }
      this.log.info('service: stopped');
    })();
    return this.#stopping;
  }

  /** Runs every readiness check (1 s each). */
  async readiness(): Promise<{ ready: boolean; checks: Record<string, { ok: boolean; detail: string }> }> {
    const checks: Record<string, { ok: boolean; detail: string }> = {};
    await Promise.all(
      [...this.#dependencies].map(async ([name, dependency]) => {
        if (dependency.check === undefined) return;
        try {
          const result = await Promise.race([dependency.check(), sleep(1000).then(() => ({ ok: false, detail: 'no answer within 1000 ms' }))]);
          checks[name] = { ok: result.ok, detail: result.detail ?? (result.ok ? 'ok' : 'failed') };
        } catch (error) {
          checks[name] = { ok: false, detail: error instanceof Error ? error.message : String(error) };
        }
      }),
    );
    if (this.#draining) checks['shutdown'] = { ok: false, detail: 'draining for shutdown' };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, code: 'BRISK_SVC_NOT_FOUND' | 'BRISK_SVC_SHUTTING_DOWN' | 'BRISK_SVC_BAD_REQUEST', message: string) => {
      const text = errorBodyText(code, message, undefined);
      socket.end(`HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : status === 400 ? 'Bad Request' : 'Service Unavailable'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
    };
    socket.on('error', () => socket.destroy());
    if (this.#draining) return refuse(503, 'BRISK_SVC_SHUTTING_DOWN', `service "${this.name}" is shutting down`);
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://service.invalid').pathname;
    } catch {
      return refuse(400, 'BRISK_SVC_BAD_REQUEST', 'the request target is not a valid path');
    }
    const match = this.#upgrades.match(req.method ?? 'GET', path);
    if (match === undefined || 'allow' in match) return refuse(404, 'BRISK_SVC_NOT_FOUND', `no upgrade route for ${req.method} ${path}`);
    this.#upgraded.add(socket);
    socket.once('close', () => this.#upgraded.delete(socket));
    try {
      match.handler(req, socket, head, match.params);
    } catch (error) {
      this.log.error({ err: error instanceof Error ? error.message : String(error), path }, 'service: upgrade handler failed');
      socket.destroy();
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://service.invalid');
    const method = req.method ?? 'GET';
    const incomingId = req.headers[REQUEST_ID_HEADER];
    const requestId = typeof incomingId === 'string' && /^[\x21-\x7e]{1,200}$/.test(incomingId) ? incomingId : randomUUID();
    const trace = traceFromHeaders(header(req, TRACEPARENT_HEADER), header(req, TRACESTATE_HEADER));
    const log = this.log.child({ requestId, traceId: trace.traceId });
    let route = 'unmatched';
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (res.headersSent || res.destroyed) return;
      if (status === 204 || status === 304) {
        res.writeHead(status, { [REQUEST_ID_HEADER]: requestId, ...headers });
        res.end();
        this.#requests.inc({ route, method, status: String(status) });
        return;
      }
      const text = typeof body === 'string' && headers['content-type'] !== undefined ? body : JSON.stringify(body ?? null);
      // Draining, or a body left unread (too large, or ignored by the handler): close after answering.
      const close = this.#draining || !req.complete;
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), [REQUEST_ID_HEADER]: requestId, ...(close ? { connection: 'close' } : {}), ...headers });
      res.end(method === 'HEAD' ? undefined : text);
      this.#requests.inc({ route, method, status: String(status) });
      this.#duration.observe({ route }, (performance.now() - started) / 1000);
      log.info({ method, path: url.pathname, route, status, ms: Math.round(performance.now() - started) }, 'request');
    };
    const fail = (error: unknown) => {
      if (res.destroyed) return; // the client went away: nobody to answer
      const e = error instanceof ServiceError ? error : new ServiceError('BRISK_SVC_INTERNAL', 'internal error', { cause: error });
      if (e.code === 'BRISK_SVC_INTERNAL') log.error({ err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error) }, 'handler failed');
      send(e.status, JSON.parse(errorBodyText(e.code, e.message, requestId, trace.traceId)), e.retryable && (e.status === 503 || e.status === 409) ? { 'retry-after': '1' } : {});
    };

    // Built-in endpoints answer even while draining (readiness must say so).
    if (method === 'GET' && url.pathname === '/healthz') return send(200, { status: 'ok', service: this.name });
    if (method === 'GET' && url.pathname === '/readyz') {
      const { ready, checks } = await this.readiness();
      if (ready) return send(200, { status: 'ready', checks });
      const failing = Object.entries(checks).filter(([, c]) => !c.ok).map(([n, c]) => `${n}: ${c.detail}`);
      return send(503, { ...JSON.parse(errorBodyText('BRISK_SVC_NOT_READY', `not ready: ${failing.join('; ')}`, requestId)), checks });
    }
    if (method === 'GET' && url.pathname === '/metrics') {
      const text = await this.registry.metrics();
      return send(200, text, { 'content-type': this.registry.contentType });
    }
    if (this.#draining) return fail(new ServiceError('BRISK_SVC_SHUTTING_DOWN', `service "${this.name}" is shutting down`));

    const match = this.#router.match(method, url.pathname);
    if (match === undefined) return fail(new ServiceError('BRISK_SVC_NOT_FOUND', `no route for ${method} ${url.pathname}`));
    if ('allow' in match) return send(405, JSON.parse(errorBodyText('BRISK_SVC_METHOD_NOT_ALLOWED', `${method} is not allowed on ${url.pathname}; use ${match.allow.join(', ')}`, requestId)), { allow: match.allow.join(', ') });
    route = match.pattern;

    const budget = parseDeadlineHeader(req.headers[DEADLINE_HEADER]) ?? this.#options.defaultTimeoutMs ?? 30_000;
    const deadline = Date.now() + budget;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new ServiceError('BRISK_SVC_DEADLINE_EXCEEDED', `the request deadline of ${budget} ms passed`)), budget);
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new Error('the client went away'));
    });
    const context: RequestContext = { requestId, deadline, trace, signal: controller.signal };
    let raw: Promise<Buffer> | undefined;
    const maxBody = this.#options.maxBodyBytes ?? 1 << 20;
    const handlerContext: HandlerContext = {
      req,
      method,
      path: url.pathname,
      params: match.params,
      query: url.searchParams,
      requestId,
      trace,
      deadline,
      signal: controller.signal,
      log,
      rawBody: () => (raw ??= readBody(req, maxBody)),
      body: async <T>() => {
        const buffer = await handlerContext.rawBody();
        if (buffer.length === 0) return undefined as T;
        try {
          return JSON.parse(buffer.toString('utf8')) as T;
        } catch {
          throw new ServiceError('BRISK_SVC_BAD_REQUEST', 'the request body is not valid JSON');
        }
      },
      fetch: callService,
    };
    this.#inFlight++;
    try {
      const result = await runWithContext(context, () =>
        Promise.race([
          match.handler(handlerContext),
          new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true })),
        ]),
      );
      if (result instanceof Reply) send(result.status, result.body, result.headers);
      else send(result === undefined ? 204 : 200, result ?? null);
    } catch (error) {
      fail(error);
    } finally {
      clearTimeout(timer);
      this.#inFlight--;
    }
  }
}

/** Creates a service (call `start()` after adding routes and dependencies). */
export function createService(options: ServiceOptions): Service {
  return new Service(options);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        reject(new ServiceError('BRISK_SVC_BAD_REQUEST', `the request body is larger than ${max} bytes`));
        // Stop reading; the answer goes out with `Connection: close`.
        req.removeAllListeners('data');
        req.pause();
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}
