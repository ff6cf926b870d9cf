#!/usr/bin/env node
// The supervised service of the proof: an HTTP server on $PORT with a bounded worker pool
// (CONCURRENCY requests at once, WORK_MS each; the rest wait), so that its latency grows
// with its load as a real service's does and adding instances helps.
//
//   GET  /work           one unit of work (WORK_MS), answers {instance, port, waitedMs}
//   GET  /healthz        200 (a hung process does not answer it)
//   POST /__slow?ms=500  every answer from now on takes that much longer, /healthz's too (0: normal)
//
// Environment: PORT (from Brisk), BRISK_INSTANCE, WORK_MS=20, CONCURRENCY=4,
// CRASH_AT_START=1 (exits at once: a crash loop), STOP_MS=0 (time it takes to exit on SIGTERM),
// SLOW_MS=500 (what SIGUSR2 adds to every answer; a second SIGUSR2 takes it away).
import http from 'node:http';

const port = Number(process.env.PORT);
const instance = process.env.BRISK_INSTANCE ?? '?';
const workMs = Number(process.env.WORK_MS ?? 20);
const concurrency = Number(process.env.CONCURRENCY ?? 4);
if (process.env.CRASH_AT_START === '1') {
  console.error(`instance ${instance}: CRASH_AT_START is set; exiting`);
  process.exit(3);
}
if (!Number.isInteger(port) || port <= 0) {
  console.error('PORT is not set');
  process.exit(2);
}
let extraMs = 0;
let busy = 0;
const waiting = [];

function run(job) {
  busy++;
  setTimeout(() => {
    busy--;
    job();
    const next = waiting.shift();
    if (next !== undefined) run(next);
  }, workMs + extraMs);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/healthz') {
    // A slow instance is slow on every path, its health page included (CPU starved, swapping, GC).
    const ok = () => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    if (extraMs > 0) setTimeout(ok, extraMs);
    else ok();
    return;
  }
  if (url.pathname === '/__slow' && req.method === 'POST') {
    extraMs = Number(url.searchParams.get('ms') ?? 0);
    console.log(`instance ${instance}: every answer now takes ${extraMs}ms more`);
    res.writeHead(200).end('ok');
    return;
  }
  const arrived = performance.now();
  const answer = () => {
    const body = JSON.stringify({ instance, port, waitedMs: Math.round(performance.now() - arrived) });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  };
  if (busy < concurrency) run(answer);
  else waiting.push(answer);
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => console.log(`instance ${instance} listening on ${port}`));
// The same slowness by signal, for process managers whose instances share one port (PM2's
// cluster mode), where one instance cannot be addressed over HTTP.
process.on('SIGUSR2', () => {
  extraMs = extraMs > 0 ? 0 : Number(process.env.SLOW_MS ?? 500);
  console.log(`instance ${instance}: every answer now takes ${extraMs}ms more (SIGUSR2)`);
});
// A graceful exit on SIGTERM (Brisk, systemd, Kubernetes) and SIGINT (PM2): stop taking
// connections, finish the requests in flight, exit.
const graceful = (signal) => {
  console.log(`instance ${instance}: ${signal}, closing`);
  setTimeout(() => server.close(() => process.exit(0)), Number(process.env.STOP_MS ?? 0));
  server.closeIdleConnections();
};
process.on('SIGTERM', graceful);
process.on('SIGINT', graceful);
