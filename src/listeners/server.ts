import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import type { Server as NetServer, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Config, ListenerConfig } from '../config/types.js';
import { BriskError, errorBody, type ErrorCode } from '../core/errors.js';
import type { Logger } from '../observability/logger.js';
import type { ClientRequest, ClientResponse } from '../core/http.js';
import type { ConnectionTracker } from './connections.js';
import { createSniffingServer } from './h2c.js';
import { loadTls } from './tls.js';

/**
 * Hands the connection of a declined upgrade back to the HTTP server, which reads `bytes`
 * first (the request head rebuilt without the upgrade, then what followed it) as if they
 * had just arrived: the request is served as a plain one and keep-alive goes on.
 */
export type ReadAsPlainHttp = (bytes: Buffer) => void;

/** What a listener hands requests and upgrades to. */
export interface ListenerHandlers {
  request(req: ClientRequest, res: ClientResponse): void;
  /** Called once every earlier response on the connection has been sent. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, readAsPlainHttp: ReadAsPlainHttp): void;
}

/** A bound listener. */
export interface Listener {
  readonly config: ListenerConfig;
  /** `http`: HTTP/1.1 (with h2c beside it unless `h2c: false`); `https`; `h2`: TLS with HTTP/2 by ALPN. */
  readonly protocol: 'http' | 'https' | 'h2';
  /** The port actually bound (differs from the config when it asked for port 0). */
  readonly port: number;
  readonly host: string;
  /** Stops accepting; open connections are left to the drain. */
  stopAccepting(): Promise<void>;
  /** Serves a connection accepted elsewhere (by the workers' primary, src/workers/distributor.ts). */
  adopt(socket: Socket): void;
}

type AnyServer = http.Server | https.Server | http2.Http2SecureServer;

/** Settings of the HTTP/2 servers (TLS with ALPN, and h2c on plain listeners). */
function http2Settings(limits: Config['limits']): http2.ServerOptions {
  return { maxSessionMemory: 32, settings: { maxConcurrentStreams: 250, maxHeaderListSize: limits.maxHeaderSize } };
}

/** Hands an HTTP/2 server's requests to the proxy and its sessions to the tracker. */
function serveHttp2(server: http2.Http2Server | http2.Http2SecureServer, handlers: ListenerHandlers, tracker: ConnectionTracker, logger: Logger): void {
  server.on('request', handlers.request as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  server.on('session', (session: http2.Http2Session) => {
    tracker.trackSession(session);
    session.on('error', (err) => logger.debug({ err }, 'http2 session error'));
  });
}

/**
 * Binds one listener. Node's parser is strict by default (no obsolete line folding, no
 * Content-Length with Transfer-Encoding, no duplicate Content-Length, no invalid header
 * characters), which is what closes request smuggling; Brisk keeps it that way and turns
 * parser errors into a JSON 400/431/408 with the connection closed.
 */
export async function startListener(
  cfg: ListenerConfig,
  limits: Config['limits'],
  handlers: ListenerHandlers,
  tracker: ConnectionTracker,
  logger: Logger,
  /** Bind nothing: the connections come through `adopt` (a data-plane worker; the primary bound the socket on this port). */
  servesOnly: { readonly port: number } | null = null,
): Promise<Listener> {
  const httpOptions = {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    noDelay: true,
    // A missing Host is answered by the proxy itself (planForward), as a JSON 400 with a
    // code like every other refusal; node's own answer would be a bare 400.
    requireHostHeader: false,
    insecureHTTPParser: false,
    joinDuplicateHeaders: false,
    // Checks request/header timeouts of idle-in-progress requests this often.
    connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(limits.headersTimeoutMs / 4))),
  } as const;

  let server: AnyServer;
  let protocol: Listener['protocol'];
  /** The socket server that listens, when it is not `server` itself (h2c beside HTTP/1.1). */
  let sniffer: NetServer | null = null;
  if (cfg.tls === undefined) {
    server = http.createServer(httpOptions, handlers.request as http.RequestListener);
    protocol = 'http';
    if (cfg.h2c) {
      const h2 = http2.createServer(http2Settings(limits));
      serveHttp2(h2, handlers, tracker, logger);
      sniffer = createSniffingServer(server, h2, limits.headersTimeoutMs, (socket) => tracker.track(socket));
    }
  } else {
    const tls = loadTls(cfg.tls, cfg.name);
    const tlsOptions = { cert: tls.cert, key: tls.key, SNICallback: tls.SNICallback, minVersion: cfg.tls.minVersion };
    if (cfg.tls.http2) {
      server = http2.createSecureServer({
        ...tlsOptions,
        ...httpOptions,
        allowHTTP1: true,
        ALPNProtocols: ['h2', 'http/1.1'],
        ...http2Settings(limits),
      } as http2.SecureServerOptions);
      serveHttp2(server, handlers, tracker, logger);
      protocol = 'h2';
    } else {
      server = https.createServer({ ...tlsOptions, ...httpOptions }, handlers.request as http.RequestListener);
      protocol = 'https';
    }
    server.on('tlsClientError', (err: Error, socket: Socket) => {
      logger.debug({ err: err.message, remote: socket.remoteAddress, listener: cfg.name }, 'TLS handshake failed');
      socket.destroy();
    });
  }
  if ('maxHeadersCount' in server) {
    // One more than the limit, so a request at the limit + 1 is seen and answered 431
    // instead of node silently dropping the extra headers.
    server.maxHeadersCount = limits.maxHeaderCount + 1;
  }
  if (sniffer === null) server.on('connection', (socket: Socket) => tracker.track(socket));
  server.on('secureConnection', (socket: Socket) => tracker.track(socket));
  // A TLS server's 'connection' is the raw TCP socket; its HTTP parser starts on 'secureConnection'.
  const httpStart = cfg.tls === undefined ? 'connection' : 'secureConnection';
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    afterEarlierResponses(socket, () =>
      handlers.upgrade(req, socket, head, (bytes) => {
        if (socket.destroyed) return;
        // Node documents emitting 'connection' to hand a stream to the HTTP server; a fresh
        // parser reads the unshifted bytes before anything else from the socket.
        socket.unshift(bytes);
        server.emit(httpStart, socket);
      }),
    ),
  );
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket, cfg.name, logger));

  const bound: NetServer = sniffer ?? server;
  let port: number;
  if (servesOnly === null) {
    port = await bindListener(bound, cfg);
    bound.on('error', (err) => logger.error({ err, listener: cfg.name }, 'listener error'));
  } else {
    port = servesOnly.port;
    // What listening starts in an HTTP/1.1 server: its header and request timeout checks (the sniffer tells its own).
    if (sniffer === null) server.emit('listening');
  }

  return {
    config: cfg,
    protocol,
    port,
    host: cfg.host,
    stopAccepting() {
      return new Promise<void>((resolve) => {
        if (sniffer !== null) {
          sniffer.close(() => resolve());
          // The HTTP/1.1 server does not listen: closing it stops its timeout checks and
          // closes its idle keep-alive connections (the 'not running' error is expected).
          server.close(() => {});
        } else server.close(() => resolve());
        // Node 19+: also closes keep-alive connections that are idle right now.
        (server as http.Server).closeIdleConnections?.();
      });
    },
    adopt(socket) {
      // Node documents emitting 'connection' to hand a socket to a server: it is served as one it accepted.
      bound.emit('connection', socket);
    },
  };
}

/** Binds a listener's socket; resolves with the port bound (the one the system chose for port 0). */
export function bindListener(bound: NetServer, cfg: ListenerConfig): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new BriskError('BRISK_LISTEN_FAILED', `listener "${cfg.name}" cannot bind ${cfg.host}:${cfg.port}: ${err.code === 'EADDRINUSE' ? 'the address is already in use' : err.message}`, { cause: err }));
    };
    bound.once('error', onError);
    bound.listen({ host: cfg.host, port: cfg.port, backlog: 1024 }, () => {
      bound.off('error', onError);
      const address = bound.address();
      resolve(typeof address === 'object' && address !== null ? address.port : cfg.port);
    });
  });
}

/**
 * Node emits 'upgrade' as soon as it parses the request, even when requests pipelined
 * before it on the same connection are still being answered; writing a 101 (or handing
 * the socket back to the HTTP server) then would interleave with those answers. So the
 * upgrade waits until the connection's current response is sent, and the one queued
 * after it (node assigns the next on 'finish'), until none is left.
 */
function afterEarlierResponses(socket: Duplex, then: () => void): void {
  if (socket.destroyed) return;
  // Node keeps the response being written on the socket (an internal field, as in answerClientError).
  const pending = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
  if (pending == null || pending.writableFinished) then();
  else pending.once('finish', () => setImmediate(afterEarlierResponses, socket, then));
}

/** Parser errors → a JSON answer and a closed connection (the framing can't be trusted). */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, listener: string, logger: Logger): void {
  const code = err.code ?? '';
  // A response already under way on this connection (a body parse error or a request
  // timeout while the target is answering): writing an error now would splice a second
  // status line into that response, so the only honest signal is a cut connection.
  const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable || inFlight?.headersSent === true) {
    socket.destroy();
    return;
  }
  let briskCode: ErrorCode = 'BRISK_BAD_REQUEST';
  let message = 'malformed request';
  if (code === 'HPE_HEADER_OVERFLOW') {
    briskCode = 'BRISK_HEADERS_TOO_LARGE';
    message = 'the request head is larger than the limit';
  } else if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADERS_TIMEOUT') {
    briskCode = 'BRISK_REQUEST_TIMEOUT';
    message = 'the request was not received in time';
  } else if (code === 'HPE_PAUSED_H2_UPGRADE') {
    message = `HTTP/2 without TLS (prior knowledge) is off on listener "${listener}"; set h2c: true on it to take HTTP/2 clients such as gRPC`;
  } else if (code.startsWith('HPE_')) {
    message = `malformed request (${(err as { reason?: string }).reason ?? code})`;
  }
  logger.warn({ listener, code: briskCode, parserError: code, reason: (err as { reason?: string }).reason }, 'rejected malformed request');
  const status = briskCode === 'BRISK_HEADERS_TOO_LARGE' ? '431 Request Header Fields Too Large' : briskCode === 'BRISK_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
  const body = errorBody(briskCode, message, undefined);
  socket.end(`HTTP/1.1 ${status}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  // end() flushes; destroy soon after in case the peer never reads.
  setTimeout(() => socket.destroy(), 1000).unref();
}
