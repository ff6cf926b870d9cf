// The overload proof's backend: a service that can work on `workers` requests at once,
// each taking `latency` ms; requests beyond that wait in its FIFO queue (as in a thread
// pool or a database connection pool). So its capacity is workers × 1000 / latency
// requests per second, and past it latency grows with the queue.
//
// A queued request whose client went away (the gateway gave up on it) is skipped rather
// than worked on: generous to the unprotected gateway, which would otherwise also pay
// for work nobody waits for.
//
// Started by overload/run.mjs with fork(); reports its port and answers 'stats' over IPC.
import http from 'node:http';

const workers = Number(process.env.WORKERS ?? 20);
const latencyMs = Number(process.env.LATENCY_MS ?? 20);
const body = Buffer.from('{"ok":true}');
const headers = ['content-type', 'application/json', 'content-length', String(body.length)];

let busy = 0;
const queue = [];
let head = 0;
let served = 0;
let skipped = 0;
let maxQueue = 0;

function work(res) {
  busy++;
  setTimeout(() => {
    busy--;
    if (!res.destroyed) {
      res.writeHead(200, headers);
      res.end(body);
      served++;
    } else skipped++;
    next();
  }, latencyMs);
}

function next() {
  while (busy < workers && head < queue.length) {
    const res = queue[head];
    queue[head++] = undefined;
    if (res.destroyed) {
      skipped++;
      continue;
    }
    work(res);
  }
  if (head > 4096 && head * 2 > queue.length) {
    queue.splice(0, head);
    head = 0;
  }
}

const server = http.createServer((req, res) => {
  req.resume();
  if (busy < workers) work(res);
  else {
    queue.push(res);
    const waiting = queue.length - head;
    if (waiting > maxQueue) maxQueue = waiting;
  }
});
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.requestTimeout = 0;
server.maxRequestsPerSocket = 0;
// A deep accept queue: a burst of new connections must not be dropped (the kernel retries a SYN after 1 s).
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => process.send?.({ type: 'ready', port: server.address().port }));

process.on('message', (m) => {
  if (m?.type === 'stats') process.send?.({ type: 'stats', id: m.id, stats: { served, skipped, maxQueue, queued: queue.length - head, busy } });
  if (m?.type === 'reset') maxQueue = 0;
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
