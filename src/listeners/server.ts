import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import net, { type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Config, ListenerConfig } from '../config/types.js';
import { BriskError } from '../core/errors.js';
import type { Logger } from '../observability/logger.js';
import type { ClientRequest, ClientResponse } from '../core/http.js';
import { answerClientError } from './client-error.js';
import type { ConnectionTracker } from './connections.js';
import { createSniffingServer } from './h2c.js';
import type { LeanServer } from './h1/server.js';
import { serverTransport } from './transport.js';
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
  /** With the lean HTTP/1.1 server in front (`transport: lean`): requests it answered, connections it handed to node:http; else null. */
  readonly leanStats: { readonly served: number; readonly handedOff: number } | null;
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
  /** The socket server that listens, when it is not `server` itself (h2c beside HTTP/1.1, the lean server). */
  let sniffer: NetServer | null = null;
  /** The lean HTTP/1.1 server in front of node:http (`transport: lean`), or null. */
  let lean: LeanServer | null = null;
  if (cfg.tls === undefined) {
    const plain = http.createServer(httpOptions, handlers.request as http.RequestListener);
    server = plain;
    protocol = 'http';
    /** A connection for node:http, paused with the bytes read so far put back. */
    const nodeHttp1 = (socket: Socket): void => {
      // Node documents emitting 'connection' to hand a socket to a server. Its parser reads
      // new bytes straight from the socket's handle; those put back reach it through
      // 'data' once the socket is resumed.
      plain.emit('connection', socket);
      socket.resume();
    };
    let http1: ((socket: Socket) => void) | null = null;
    if (serverTransport(cfg.transport) === 'lean') {
      // Loaded only for a listener that uses it: an idle gateway loads what its config uses.
      const { LeanServer } = await import('./h1/server.js');
      lean = new LeanServer({
        limits,
        listener: cfg.name,
        logger,
        request: handlers.request as unknown as LeanServerHandler,
        handOff(socket, bytes) {
          if (bytes !== null) socket.unshift(bytes);
          nodeHttp1(socket);
        },
      });
      http1 = lean.serve;
    }
    if (cfg.h2c) {
      const h2 = http2.createServer(http2Settings(limits));
      serveHttp2(h2, handlers, tracker, logger);
      sniffer = createSniffingServer(http1 ?? nodeHttp1, h2, limits.headersTimeoutMs, (socket) => tracker.track(socket));
    } else if (http1 !== null) {
      const serve = http1;
      sniffer = net.createServer({ noDelay: true }, (socket) => {
        tracker.track(socket);
        serve(socket);
      });
    }
    // With a socket server in front, node:http never listens itself: its connection tracking
    // (idle connections closed at shutdown, the header and request timeouts checked on an
    // interval) starts on 'listening', so it is told once here.
    if (sniffer !== null) plain.emit('listening');
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
    leanStats: lean?.stats ?? null,
    stopAccepting() {
      return new Promise<void>((resolve) => {
        lean?.stop();
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

/**
 * The proxy's request handler as the lean server calls it: its request and response
 * implement the members of `IncomingMessage` and `ServerResponse` the request path uses
 * (`h1/request.ts`, `h1/response.ts`), which `test/lean-server.test.ts` and the
 * hostile-input tests run through.
 */
type LeanServerHandler = ConstructorParameters<typeof LeanServer>[0]['request'];
