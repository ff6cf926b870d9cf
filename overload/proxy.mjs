// The standalone gateway of the overload proof: node:http + an undici Pool, the same
// pieces Brisk's hot path is made of, with or without Brisk's route concurrency limiter
// (src/middlewares/shedding/concurrency.ts, loaded from a snapshot of dist/). It proves
// the mechanism before the limiter is wired into Brisk itself.
//
// env: BACKEND (origin), DIST (a dist/ snapshot), CONCURRENCY (JSON of a normalised
// ConcurrencyConfig, or empty for no protection), CONNECTIONS (pool size per target).
// Reports its port and answers 'stats' over IPC.
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { Pool } from 'undici';

const backend = process.env.BACKEND;
const connections = Number(process.env.CONNECTIONS ?? 128);
const config = process.env.CONCURRENCY ? JSON.parse(process.env.CONCURRENCY) : null;
const pool = new Pool(backend, { connections, pipelining: 1, keepAliveTimeout: 60_000 });

let mw = null;
if (config !== null) {
  const { createConcurrencyMiddleware } = await import(pathToFileURL(path.join(process.env.DIST, 'src/middlewares/shedding/concurrency.js')).href);
  mw = createConcurrencyMiddleware(config, { route: 'proof', priority: 'normal', priorityHeader: null });
}

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);

function errorBody(code, message, requestId) {
  return `{"error":{"code":"${code}","message":${JSON.stringify(message)},"requestId":${JSON.stringify(requestId)}}}`;
}

let seq = 0;
const server = http.createServer((req, res) => {
  const id = String(++seq);
  // The RequestContext the middleware sees; onFinish is what the exchange will call.
  let hooks = null;
  const ctx = {
    method: req.method,
    path: req.url,
    query: '',
    rawHeaders: req.rawHeaders,
    clientIp: req.socket.remoteAddress ?? '',
    requestId: id,
    routeName: 'proof',
    params: null,
    upstreamHeaders: [],
    responseHeaders: null,
    identity: null,
    onFinish(cb) {
      (hooks ??= []).push(cb);
    },
  };
  // The exchange's finish: once, with the client's status (499 when it left first).
  const exchange = { abort: null };
  res.once('close', () => {
    if (!res.writableFinished && exchange.abort !== null) exchange.abort(new Error('client gone'));
    const h = hooks;
    hooks = null;
    if (h !== null) for (const cb of h) cb(res.writableFinished ? res.statusCode : 499);
  });
  const answer = mw === null ? null : mw.handle(ctx);
  if (answer === null) forward(req, res, exchange);
  else if (answer instanceof Promise) answer.then((a) => (a === null ? forward(req, res, exchange) : respond(res, a, id)));
  else respond(res, answer, id);
});

function respond(res, a, id) {
  if (res.destroyed) return;
  const body = errorBody(a.code, a.message ?? '', id);
  res.writeHead(a.status, ['content-type', 'application/json; charset=utf-8', 'content-length', String(Buffer.byteLength(body)), ...(a.headers ?? [])]);
  res.end(body);
}

/** Forwards with undici's dispatch handler API (as Brisk's exchange does): no streams in between. */
function forward(req, res, exchange) {
  if (res.destroyed) return;
  const headers = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (!HOP.has(req.rawHeaders[i].toLowerCase())) headers.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
  let ended = false;
  const handler = {
    onConnect(abort) {
      if (res.destroyed) abort(new Error('client gone'));
      else exchange.abort = abort;
    },
    onHeaders(status, raw, resume) {
      res.on('drain', resume);
      const out = [];
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i].toString('latin1');
        if (!HOP.has(name.toLowerCase())) out.push(name, raw[i + 1].toString('latin1'));
      }
      res.writeHead(status, out);
      return true;
    },
    onData(chunk) {
      return res.write(chunk);
    },
    onComplete() {
      ended = true;
      res.end();
    },
    onError() {
      if (ended) return;
      ended = true;
      if (res.destroyed || res.headersSent) return res.destroy();
      const body = errorBody('BRISK_UPSTREAM_CONNECT_FAILED', 'upstream failed', '');
      res.writeHead(502, ['content-type', 'application/json', 'content-length', String(body.length)]);
      res.end(body);
    },
  };
  try {
    pool.dispatch({ path: req.url, method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req }, handler);
  } catch (err) {
    handler.onError(err);
  }
}

server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.requestTimeout = 0;
// A deep accept queue: a burst of new connections must not be dropped (the kernel retries a SYN after 1 s).
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => process.send?.({ type: 'ready', port: server.address().port }));

// Diagnostics: this process's own event-loop delay and GC pauses since the last 'reset'.
const eld = monitorEventLoopDelay({ resolution: 5 });
eld.enable();
let gcMs = 0;
let gcMax = 0;
let cpuAt = process.cpuUsage();
let cpuWall = performance.now();
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcMs += e.duration;
    if (e.duration > gcMax) gcMax = e.duration;
  }
}).observe({ entryTypes: ['gc'] });

process.on('message', (m) => {
  if (m?.type === 'reset') {
    eld.reset();
    gcMs = 0;
    gcMax = 0;
    cpuAt = process.cpuUsage();
    cpuWall = performance.now();
  }
  if (m?.type === 'stats') {
    const loop = { p50: eld.percentile(50) / 1e6 - 5, p99: eld.percentile(99) / 1e6 - 5, max: eld.max / 1e6 - 5 };
    const used = process.cpuUsage(cpuAt);
    const cpu = (used.user + used.system) / 1000 / (performance.now() - cpuWall);
    process.send?.({ type: 'stats', id: m.id, stats: { limiter: mw === null ? null : mw.limiter.stats(), rss: process.memoryUsage().rss, loop, gcMs, gcMax, cpu } });
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
