// The load generator of the chaos run, a child process of its own (pinned away from the
// proxy under test) so that the harness's work — signalling, restarting backends — never
// delays a request.
//
// Open loop: every request has a due time fixed in advance, whatever happened to the earlier
// ones, so a stalled proxy shows up as latency (and as more connections in use), never as
// less load. The warm-up ramps the rate up from 10% (a cold JIT should not be met with the
// full rate at once); the measured part runs at the full rate. The generator picks its
// start itself once it is ready (a child starting on a busy core may take a while) and
// announces it on stdout — `START <epoch ms of the measured part>` — for the harness to
// time the faults by. One undici Pool with enough connections that the client is never
// the queue; latency is measured from the moment a request is handed to the pool to the
// end of its body. Requests of the warm-up carry negative times and are dropped by the
// analysis.
//
// Usage: node chaos/loadgen.mjs '<json>'   (see chaos/lib/load.mjs for the fields)
// Writes its results as JSON to `out`; one line on stdout with a summary.
import fs from 'node:fs';
import { Pool } from 'undici';

const o = JSON.parse(process.argv[2]);
const { url, rate, warmupMs, durationMs, method, connections, timeoutMs, out, backends, idPrefix } = o;

const epochMs = () => performance.timeOrigin + performance.now();
const t0 = Math.ceil(epochMs()) + 100;
const startAt = t0 + warmupMs;

/** Due times (ms since t0): a linear ramp from 10% to 100% of the rate over the warm-up, then flat. */
function schedule() {
  const out = [];
  let t = 0;
  while (t < warmupMs) {
    out.push(t);
    t += 1000 / (rate * (0.1 + (0.9 * t) / warmupMs));
  }
  const n = Math.floor((durationMs * rate) / 1000);
  for (let k = 0; k < n; k++) out.push(warmupMs + (k * 1000) / rate);
  return Float64Array.from(out);
}
const due = schedule();
const total = due.length;

// Column arrays: 60 000 requests cost a few hundred kB, and nothing is kept per request
// but these numbers.
const sentAt = new Float64Array(total); // ms since startAt (negative: warm-up)
const lag = new Float32Array(total); // ms between due and handed to the pool
const latency = new Float32Array(total);
const status = new Int16Array(total); // 0: transport error
const served = new Int8Array(total).fill(-1); // index in `backends`, -1: no x-served-by
const error = new Int16Array(total).fill(-1); // index in `errorCodes`
const ended = new Uint8Array(total); // 1: answered in full, or failed
const errorCodes = [];
const backendIndex = new Map(backends.map((b, i) => [b, i]));

const target = new URL(url);
const path = target.pathname === '/' ? '/api/item' : target.pathname;
const pool = new Pool(target.origin, {
  connections,
  pipelining: 1,
  keepAliveTimeout: 60_000,
  connect: { timeout: 2000 },
  headersTimeout: timeoutMs,
  bodyTimeout: timeoutMs,
});

let finished = 0;
let fired = 0;
let maxInFlight = 0;

function errorIndex(code) {
  let i = errorCodes.indexOf(code);
  if (i === -1) {
    errorCodes.push(code);
    i = errorCodes.length - 1;
  }
  return i;
}

/**
 * One request through `pool.dispatch` with a bare handler: no stream and no promise per
 * request, which keeps the generator cheap (it shares its core with the backends).
 */
class Request {
  constructor(i) {
    this.i = i;
    this.start = 0;
  }

  onRequestStart() {}

  onResponseStart(_controller, statusCode, headers) {
    if (statusCode < 200) return;
    status[this.i] = statusCode;
    const by = headers['x-served-by'];
    if (typeof by === 'string' && backendIndex.has(by)) served[this.i] = backendIndex.get(by);
  }

  onResponseData() {}

  onResponseEnd() {
    this.end(null);
  }

  onResponseError(_controller, err) {
    this.end(err);
  }

  end(err) {
    const i = this.i;
    if (ended[i] === 1) return;
    ended[i] = 1;
    if (err !== null) {
      // A body cut after the status line is an error too.
      status[i] = 0;
      error[i] = errorIndex(err.code ?? err.name ?? 'error');
    }
    latency[i] = epochMs() - this.start;
    finished++;
  }
}

function fire(i, due) {
  const seq = String(i);
  const headers = { 'x-chaos-seq': seq };
  let body = null;
  if (method === 'POST') {
    const id = `${idPrefix}-${seq}`;
    body = JSON.stringify({ id });
    headers['content-type'] = 'application/json';
    headers['x-chaos-id'] = id;
  }
  const handler = new Request(i);
  handler.start = epochMs();
  sentAt[i] = handler.start - startAt;
  lag[i] = handler.start - due;
  maxInFlight = Math.max(maxInFlight, fired - finished);
  try {
    pool.dispatch({ origin: target.origin, path, method, headers, body }, handler);
  } catch (err) {
    handler.end(err);
  }
}

let next = 0;
function tick() {
  const now = epochMs();
  while (next < total && t0 + due[next] <= now) {
    fired++;
    fire(next, t0 + due[next]);
    next++;
  }
  if (next >= total) drain();
  // Sleep until the next request is due (timers fire on whole milliseconds, at the earliest
  // after 1 ms): no busy loop while the rate is low.
  else setTimeout(tick, Math.max(0, Math.floor(t0 + due[next] - epochMs())));
}

function drain() {
  const deadline = epochMs() + timeoutMs + 1000;
  const check = () => {
    if (finished >= total || epochMs() > deadline) done();
    else setTimeout(check, 20);
  };
  check();
}

function done() {
  const unfinished = total - finished;
  // Still waiting after the client timeout and a second: counted as errors, with the time waited.
  const now = epochMs();
  for (let i = 0; i < total; i++) {
    if (ended[i] === 0) {
      status[i] = 0;
      error[i] = errorIndex('unfinished');
      latency[i] = now - startAt - sentAt[i];
    }
  }
  const round = (a, d) => Array.from(a, (x) => Math.round(x * d) / d);
  fs.writeFileSync(
    out,
    JSON.stringify({
      rate,
      warmupMs,
      durationMs,
      startAt,
      backends,
      errorCodes,
      unfinished,
      maxInFlight,
      sentAt: round(sentAt, 100),
      lag: round(lag, 100),
      latency: round(latency, 100),
      status: Array.from(status),
      served: Array.from(served),
      error: Array.from(error),
    }),
  );
  process.stdout.write(`loadgen: ${total} requests, ${unfinished} unfinished, max in flight ${maxInFlight}\n`);
  pool.destroy().finally(() => process.exit(0));
}

process.stdout.write(`START ${startAt}\n`);
setTimeout(tick, Math.max(0, t0 - epochMs()));
// The parent bounds us too, but never outlive it.
const ppid = process.ppid;
setInterval(() => {
  if (process.ppid !== ppid) process.exit(1);
}, 1000).unref();
