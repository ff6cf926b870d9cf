// A backend for the chaos run: a node:http server that answers GET with a small JSON body
// after a base delay, names itself in `x-served-by`, and can be switched at runtime into a
// failure mode through a control port (loopback only):
//
//   PUT /mode/normal | /mode/503 | /mode/reset | /mode/slow     GET /mode
//
//   normal  answer 200 after the base delay
//   503     answer 503 (and /healthz fails with 503)
//   reset   destroy the connection with a TCP RST instead of answering (and /healthz resets);
//           a POST is read to its end (and logged as received) before the reset
//   slow    answer 500 ms later than normal; /healthz stays fast, as a backend with a slow
//           dependency behind a cheap health endpoint would
//
// Crashes and freezes are not modes: the harness SIGKILLs / SIGSTOPs this process.
//
// Every request is appended to the log file (`--log`), one tab-separated line each:
//   <epoch ms received> <G|P|H> <x-chaos-seq or POST id or -> <outcome: status or reset>
// flushed every 50 ms, so a SIGKILL loses at most the last 50 ms (which the harness never
// needs: a killed backend has nothing to say about the time after its death).
//
// Usage: node chaos/backend.mjs --name b1 --port 7001 --control-port 7101 --delay 1 --log FILE [--warm 1500]
import fs from 'node:fs';
import http from 'node:http';
import { argValue, watchParent } from '../bench/lib/child-args.mjs';

const name = argValue('name', 'BACKEND_NAME', 'b1');
const port = Number(argValue('port', 'PORT', '0'));
const controlPort = Number(argValue('control-port', 'CONTROL_PORT', '0'));
const delayMs = Number(argValue('delay', 'BACKEND_DELAY_MS', '1'));
const slowExtraMs = Number(argValue('slow-extra', 'BACKEND_SLOW_EXTRA_MS', '500'));
const warmRequests = Number(argValue('warm', 'BACKEND_WARM', '1500'));
const logPath = argValue('log', 'BACKEND_LOG', '');
let mode = argValue('mode', 'BACKEND_MODE', 'normal');
const MODES = new Set(['normal', '503', 'reset', 'slow']);

const epochMs = () => performance.timeOrigin + performance.now();

// --- the request log -------------------------------------------------------------------
const logFd = logPath ? fs.openSync(logPath, 'a') : null;
let pending = [];
let warming = false;
function record(kind, id, outcome) {
  if (logFd !== null && !warming) pending.push(`${epochMs().toFixed(1)}\t${kind}\t${id}\t${outcome}\n`);
}
function flush() {
  if (logFd === null || pending.length === 0) return;
  const text = pending.join('');
  pending = [];
  try {
    fs.writeSync(logFd, text);
  } catch {
    // disk full or closed: the harness will notice missing lines, nothing to do here
  }
}
setInterval(flush, 50).unref();

// --- answers ---------------------------------------------------------------------------
const okBody = Buffer.from(JSON.stringify({ ok: true, backend: name }));
const okHeaders = ['content-type', 'application/json', 'content-length', String(okBody.length), 'x-served-by', name];
const failBody = Buffer.from(JSON.stringify({ ok: false, backend: name, error: 'chaos: 503 mode' }));
const failHeaders = ['content-type', 'application/json', 'content-length', String(failBody.length), 'x-served-by', name];

function reset(req) {
  const socket = req.socket;
  // A real RST, as a crashed worker behind a load balancer would leave; FIN if unavailable.
  if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
  else socket.destroy();
}

function later(ms, fn) {
  if (ms > 0) setTimeout(fn, ms);
  else fn();
}

function answer(req, res, kind, id) {
  const m = mode;
  if (m === 'reset') {
    record(kind, id, 'reset');
    reset(req);
    return;
  }
  if (m === '503') {
    record(kind, id, '503');
    later(delayMs, () => {
      res.writeHead(503, failHeaders);
      res.end(failBody);
    });
    return;
  }
  record(kind, id, '200');
  later(m === 'slow' ? delayMs + slowExtraMs : delayMs, () => {
    res.writeHead(200, okHeaders);
    res.end(okBody);
  });
}

function health(req, res) {
  const m = mode;
  record('H', '-', m === 'reset' ? 'reset' : m === '503' ? '503' : '200');
  if (m === 'reset') return reset(req);
  res.writeHead(m === '503' ? 503 : 200, ['content-type', 'text/plain', 'content-length', '2', 'x-served-by', name]);
  res.end(m === '503' ? 'no' : 'ok');
}

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    req.resume();
    health(req, res);
    return;
  }
  if (req.method === 'POST' || req.method === 'PUT') {
    // The request counts as received once its body has fully arrived: that is the moment a
    // real service would act on it (charge the card), whatever happens to the answer.
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let id = req.headers['x-chaos-id'];
      if (id === undefined) {
        try {
          id = JSON.parse(Buffer.concat(chunks).toString('utf8')).id;
        } catch {
          id = '?';
        }
      }
      answer(req, res, 'P', String(id));
    });
    return;
  }
  req.resume();
  answer(req, res, 'G', req.headers['x-chaos-seq'] ?? '-');
});
// Proxies keep pooled connections open; never be the side that closes them mid-run, or
// keep-alive races would show up as errors that have nothing to do with the fault.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.requestTimeout = 0;
server.maxRequestsPerSocket = 0;
server.on('clientError', (_err, socket) => socket.destroy());

// --- the control port ------------------------------------------------------------------
const control = http.createServer((req, res) => {
  const m = /^\/mode(?:\/([\w-]+))?$/.exec(req.url ?? '');
  req.resume();
  if (m === null) {
    res.writeHead(404).end();
    return;
  }
  if (req.method === 'PUT' && m[1] !== undefined) {
    if (!MODES.has(m[1])) {
      res.writeHead(400, ['content-type', 'text/plain']).end(`unknown mode ${m[1]}; modes: ${[...MODES].join(', ')}\n`);
      return;
    }
    mode = m[1];
    record('M', mode, '-');
  }
  res.writeHead(200, ['content-type', 'application/json']).end(JSON.stringify({ name, mode }));
});

/**
 * Serves a burst of requests to itself on a throwaway port before taking traffic, so the
 * HTTP parser and the handler are compiled by the time the proxy arrives: a cold Node
 * process is several times slower for its first second, and three of them starting at
 * once on the load generator's core would stall the first requests of every run.
 */
async function warmUp(requests, concurrency = 16) {
  warming = true;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const { port: warmPort } = server.address();
  let left = requests;
  const worker = async () => {
    while (left-- > 0) {
      await new Promise((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: warmPort, path: '/warm', agent, headers: { 'x-chaos-seq': '-' } }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', resolve);
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  server.closeAllConnections?.();
  await new Promise((resolve) => server.close(resolve));
  warming = false;
}

if (warmRequests > 0) await warmUp(warmRequests);
server.listen(port, '127.0.0.1', () => {
  control.listen(controlPort, '127.0.0.1', () => {
    process.stdout.write(`backend ${name} listening on 127.0.0.1:${server.address().port} (control ${control.address().port}, mode ${mode})\n`);
  });
});

watchParent(() => {
  flush();
  server.closeAllConnections?.();
  server.close();
  control.close();
  process.exit(0);
});
process.on('exit', flush);
