import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ERROR_CODES, errorBody, type ErrorCode } from '../core/errors.js';
import { fillHeaderSlot, formatTraceparent, newSpanId } from '../observability/trace-context.js';
import { Outcome } from '../upstreams/health/outlier.js';
import { connectionClosing, ForwardPlan, type ProxyState } from './context.js';
import { runPipeline } from '../core/middleware.js';
import { pickTarget, planForward, shedRefusal } from './forward.js';
import { PipelineContext } from './pipeline-context.js';
import { upstreamErrorCode, upstreamErrorMessage } from '../upstreams/errors.js';
import { DEFAULT_UPGRADES } from '../router/config/upgrades.js';
import { allowedOffer, ignoredUpgrade, plainRequestHead } from './upgrade-policy.js';

/** An open upgraded connection (WebSocket), kept so a reload can close those whose route is gone. */
interface Tunnel {
  readonly route: string;
  readonly client: Duplex;
  readonly upstream: Duplex | null;
}

/**
 * Proxies `Upgrade` requests (WebSocket) that the route allows (`upgrade-policy.ts` decides
 * which: h2c is read again as a plain request, other protocols the route does not list are
 * refused): the handshake goes to a target picked like any request; on 101 the two sockets
 * are piped both ways, which gives backpressure in both directions, and a close or error
 * on one side ends the other.
 */
export class UpgradeProxy {
  private readonly tunnels = new Set<Tunnel>();

  constructor(private readonly state: ProxyState) {}

  get openTunnels(): number {
    return this.tunnels.size;
  }

  /** After a reload: closes tunnels whose route no longer exists. Returns how many. */
  closeTunnelsNotIn(routeNames: ReadonlySet<string>): number {
    let closed = 0;
    for (const t of this.tunnels) {
      if (!routeNames.has(t.route)) {
        t.client.destroy();
        t.upstream?.destroy();
        closed++;
      }
    }
    return closed;
  }

  closeAll(): void {
    for (const t of this.tunnels) {
      t.client.destroy();
      t.upstream?.destroy();
    }
  }

  readonly handle = (req: IncomingMessage, socket: Duplex, head: Buffer, readAsPlainHttp: (bytes: Buffer) => void): void => {
    // Pipelined behind an answer that closed the connection (a refused framing): not processed.
    if (connectionClosing(socket)) {
      socket.destroy();
      return;
    }
    const rt = this.state.runtime;
    const ignored = ignoredUpgrade(req);
    // A head with more headers than the limit may have been cut short by node (maxHeadersCount):
    // it is refused below by planForward, never rebuilt from what is left of it.
    if (ignored !== null && req.rawHeaders.length <= rt.config.limits.maxHeaderCount * 2) {
      this.state.logger.debug({ reason: ignored, url: req.url }, 'upgrade ignored: served as a plain request');
      readAsPlainHttp(head.length === 0 ? plainRequestHead(req) : Buffer.concat([plainRequestHead(req), head]));
      return;
    }
    socket.on('error', () => socket.destroy());
    const plan = new ForwardPlan();
    if (!planForward(req, rt, plan)) {
      rawError(socket, plan.failCode!, plan.failMessage, plan.requestId, [], plan.traceId);
      return;
    }
    const route = plan.route!;
    // Refused before any middleware or target: written to the access log like a refused plain request.
    const refuse = (code: ErrorCode, message: string) => {
      rawError(socket, code, message, plan.requestId, [], plan.traceId);
      this.state.accessLog?.write(plan.requestId, req.method, req.url, route.name, plan.upstream?.name, undefined, ERROR_CODES[code].status, 0, 0, req.socket.remoteAddress, 0, false, code, plan.traceId);
    };
    const offer = allowedOffer(req.headers.upgrade, route.config.upgrades ?? DEFAULT_UPGRADES);
    if (offer === '') {
      const allowed = route.config.upgrades ?? DEFAULT_UPGRADES;
      refuse('BRISK_UPGRADE_NOT_ALLOWED', `route "${route.name}" does not allow upgrades to ${JSON.stringify(req.headers.upgrade ?? '')} (${allowed.length === 0 ? 'it allows none' : `it allows ${allowed.join(', ')}`}); list the protocol in the route's \`upgrades\``);
      return;
    }
    // The bytes after the head become tunnel data the moment the target answers 101, while a
    // target that reads the head's body first sees them as the body: two readings of one
    // stream. A handshake has no body (RFC 6455 §4.1), so one that carries a body is refused.
    if (plan.chunked || plan.contentLength > 0) {
      refuse('BRISK_BAD_REQUEST', 'an upgrade request cannot carry a body');
      return;
    }
    const refusal = this.state.shedder === null ? null : shedRefusal(this.state.shedder, plan, req);
    if (refusal !== null) {
      rawError(socket, refusal.code!, refusal.message ?? '', plan.requestId, refusal.headers);
      return;
    }
    // Upgrades pass the route's middlewares too: a WebSocket needs the same auth and limits.
    const pipeline = rt.pipelineOfRoute[plan.route!.config.index];
    if (pipeline === null || pipeline === undefined) {
      this.connect(req, socket, head, plan, offer);
      return;
    }
    Promise.resolve(runPipeline(pipeline, new PipelineContext(plan, req))).then(
      (answer) => {
        if (socket.destroyed) {
          plan.runFinishHooks(499);
          return;
        }
        if (answer === null) this.connect(req, socket, head, plan, offer);
        else {
          if (answer.code !== undefined) rawError(socket, answer.code, answer.message ?? '', plan.requestId, answer.headers, plan.traceId);
          else rawAnswer(socket, answer.status, answer.headers ?? [], answer.body ?? '');
          plan.runFinishHooks(answer.status);
        }
      },
      (err: unknown) => {
        this.state.logger.error({ err, requestId: plan.requestId }, 'route pipeline failed');
        rawError(socket, 'BRISK_INTERNAL', 'the request could not be processed; see the gateway log', plan.requestId, [], plan.traceId);
        plan.runFinishHooks(500);
      },
    );
  };

  private connect(req: IncomingMessage, socket: Duplex, head: Buffer, plan: ForwardPlan, offer: string): void {
    if (!pickTarget(plan, req)) {
      rawError(socket, plan.failCode!, plan.failMessage, plan.requestId, [], plan.traceId);
      plan.runFinishHooks(503);
      return;
    }
    const rt = this.state.runtime;
    const target = plan.target!;
    const upstream = plan.upstream!;
    const started = performance.now();
    // The handshake is the one upstream try: its own span id, as for a plain request.
    let trySpanId = '';
    if (plan.traceparentIndex !== -1) plan.traceparentIndex = fillHeaderSlot(plan.headers, plan.traceparentIndex, 'traceparent', formatTraceparent(plan.traceId!, (trySpanId = newSpanId()), plan.sampled));
    plan.headers.push('connection', 'upgrade', 'upgrade', offer);
    const url = new URL(target.origin);
    const request = (url.protocol === 'https:' ? https : http).request({
      host: url.hostname,
      port: url.port,
      method: req.method,
      path: target.basePath + plan.pathAndQuery,
      headers: plan.headers,
      agent: false,
      setHost: false,
    });
    // The same two limits as a plain request (route overrides first): `connect` until the TCP
    // connection is up, then `response` for the target's answer to the handshake. The codes
    // are undici's, so the client sees the same BRISK_* code as for a plain request.
    let settled = false;
    const timeouts = plan.route!.config.timeouts ?? upstream.config.timeouts;
    const timeout = (code: string, ms: number) => setTimeout(() => request.destroy(Object.assign(new Error(`${code === 'UND_ERR_CONNECT_TIMEOUT' ? 'connect' : 'response'} timeout`), { code })), ms);
    let connectTimer = timeout('UND_ERR_CONNECT_TIMEOUT', timeouts.connectMs);
    request.once('socket', (s: Socket) => {
      s.once('connect', () => {
        clearTimeout(connectTimer);
        if (!settled) connectTimer = timeout('UND_ERR_HEADERS_TIMEOUT', timeouts.responseMs);
      });
    });
    target.inFlight++;
    const settle = (status: number, error?: ErrorCode) => {
      if (settled) return;
      settled = true;
      plan.runFinishHooks(status);
      clearTimeout(connectTimer);
      target.requestEnded();
      this.state.accessLog?.write(
        plan.requestId,
        req.method,
        req.url,
        plan.route!.name,
        upstream.name,
        target.origin,
        status,
        Math.round(performance.now() - started),
        0,
        req.socket.remoteAddress,
        1,
        false,
        error ?? null,
        plan.traceId,
      );
      if (plan.sampled && this.state.tracer != null) this.state.tracer.recordUpgrade(plan, req, trySpanId, started, status, error ?? null);
    };
    socket.once('close', () => {
      if (!settled) request.destroy();
    });

    request.on('upgrade', (res: IncomingMessage, upstreamSocket: Socket, upstreamHead: Buffer) => {
      clearTimeout(connectTimer);
      upstream.outlier.onResult(target, Outcome.Success, Date.now());
      if (socket.destroyed) {
        upstreamSocket.destroy();
        settle(499);
        return;
      }
      const lines = [`HTTP/1.1 101 ${res.statusMessage || 'Switching Protocols'}`];
      const raw = res.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) lines.push(`${raw[i]}: ${raw[i + 1]}`);
      if (plan.requestId !== undefined) lines.push(`${rt.config.proxy.requestIdHeader}: ${plan.requestId}`);
      socket.write(lines.join('\r\n') + '\r\n\r\n');
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) upstreamSocket.write(head);
      upstreamSocket.setNoDelay(true);
      (socket as Socket).setNoDelay?.(true);
      const tunnel: Tunnel = { route: plan.route!.name, client: socket, upstream: upstreamSocket };
      this.tunnels.add(tunnel);
      const close = () => {
        if (!this.tunnels.delete(tunnel)) return;
        socket.destroy();
        upstreamSocket.destroy();
        settle(101);
      };
      upstreamSocket.on('error', close);
      socket.on('error', close);
      upstreamSocket.on('close', close);
      socket.on('close', close);
      socket.pipe(upstreamSocket);
      upstreamSocket.pipe(socket);
    });

    // The target answered without upgrading: pass its answer on as is.
    request.on('response', (res: IncomingMessage) => {
      clearTimeout(connectTimer);
      upstream.outlier.onResult(target, (res.statusCode ?? 0) >= 500 ? Outcome.Http5xx : Outcome.Success, Date.now());
      const lines = [`HTTP/1.1 ${res.statusCode} ${res.statusMessage}`];
      const raw = res.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!.toLowerCase();
        if (name === 'connection' || name === 'transfer-encoding' || name === 'keep-alive') continue;
        lines.push(`${raw[i]}: ${raw[i + 1]}`);
      }
      lines.push('connection: close');
      socket.write(lines.join('\r\n') + '\r\n\r\n');
      res.pipe(socket);
      res.on('end', () => settle(res.statusCode ?? 0));
      res.on('error', () => socket.destroy());
    });

    request.on('error', (err) => {
      if (socket.destroyed) {
        // The client left during the handshake; that is why the request was cut.
        settle(499);
        return;
      }
      const code = upstreamErrorCode(err);
      // A handshake the target failed counts against it like any request (outlier detection
      // ejects a target that only ever gets WebSocket traffic, too).
      if (ERROR_CODES[code].status >= 500) {
        target.failures++;
        upstream.outlier.onResult(target, Outcome.GatewayFailure, Date.now(), err.message);
      }
      rawError(socket, code, upstreamErrorMessage(code, upstream.name, target.origin), plan.requestId, [], plan.traceId);
      settle(ERROR_CODES[code].status, code);
    });
    request.end();
  }
}

/** A JSON error written straight to a socket that left node's HTTP machinery. */
function rawError(socket: Duplex, code: ErrorCode, message: string, requestId: string | undefined, headers: readonly string[] = [], traceId?: string): void {
  const body = errorBody(code, message, requestId, traceId);
  rawAnswer(socket, ERROR_CODES[code].status, ['content-type', 'application/json; charset=utf-8', ...headers], body);
}

/** An answer written straight to a socket that left node's HTTP machinery; the connection closes after it. */
function rawAnswer(socket: Duplex, status: number, headers: readonly string[], body: string | Buffer): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  let head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  socket.end(Buffer.concat([Buffer.from(`${head}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`, 'latin1'), Buffer.from(body)]));
}
