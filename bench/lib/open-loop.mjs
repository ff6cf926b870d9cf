// The Node open-loop load generator: the fallback of bench/lib/open-loop.c (the C one the
// bench runs when it has a C compiler; see open-loop-section.mjs), kept for machines without
// one and to compare the two. On a shared 2-CPU machine its own lateness (its event loop, its
// GC, 1 ms timers) is tens of ms, which bounds the p99 it can measure.
//
// An open-loop load generator (wrk2's method; wrk2 is not packaged by Debian): requests are
// sent at a fixed rate on a schedule made in advance, and each one's latency is counted
// from the moment the schedule said it should go, not from when a connection was free to
// send it. A proxy that stalls for 100 ms is charged 100 ms on every request that was due
// meanwhile, as its users would be — a closed-loop tool (wrk, autocannon) waits politely
// instead and reports the stall once ("coordinated omission").
//
//   node bench/lib/open-loop.mjs '{"url":"http://127.0.0.1:8080/1k","rate":5000,"seconds":5,"connections":50,"warmup":2,"headers":{}}'
//
// `warmup`: seconds at the same rate before the measured ones, not recorded.
//
// Prints one line `OLJSON {...}`: sent, completed, errors, p50/p99/p999/max (ms), the rate
// reached, and `lateMs`: how far behind its own schedule the generator itself fell (a
// generator starved of CPU shows it there rather than hiding it).
// Plain HTTP/1.1 GETs with keep-alive on raw sockets; answers must carry Content-Length
// (every case of the bench does).
import net from 'node:net';

const HEAD_END = Buffer.from('\r\n\r\n');

/** One keep-alive connection that sends a request when it is idle and reads one answer at a time. */
class Conn {
  constructor(gen) {
    this.gen = gen;
    this.busy = false;
    this.due = 0;
    this.buf = null;
    this.need = -1; // body bytes still expected; -1 while reading the head
    this.socket = net.connect({ host: gen.host, port: gen.port, noDelay: true });
    this.socket.on('data', (d) => this.onData(d));
    this.socket.on('error', () => {});
    this.socket.on('close', () => this.gen.onClose(this));
  }

  send(due) {
    this.busy = true;
    this.due = due;
    this.need = -1;
    this.socket.write(this.gen.request);
  }

  onData(chunk) {
    let data = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    this.buf = null;
    while (data.length > 0) {
      if (this.need === -1) {
        const end = data.indexOf(HEAD_END);
        if (end === -1) {
          this.buf = data;
          return;
        }
        const length = contentLength(data, end);
        if (length === -1) {
          this.gen.fail(`answer without Content-Length (${data.toString('latin1', 0, Math.min(end, 12))})`);
          this.socket.destroy();
          return;
        }
        // "HTTP/1.1 200": the status is bytes 9 to 11.
        this.status = (data[9] - 48) * 100 + (data[10] - 48) * 10 + (data[11] - 48);
        this.need = length;
        data = data.subarray(end + 4);
      }
      const take = Math.min(this.need, data.length);
      this.need -= take;
      data = data.subarray(take);
      if (this.need === 0) {
        this.need = -1;
        this.busy = false;
        this.gen.onAnswer(this, this.status);
      }
    }
  }
}

const CONTENT_LENGTH = Buffer.from('\r\ncontent-length:');

/** The Content-Length of a head that ends at `end` (-1: none), read from the bytes (cheaper than a string and a regex per answer). */
function contentLength(data, end) {
  let at = -1;
  for (let i = data.indexOf(13); i !== -1 && i < end; i = data.indexOf(13, i + 1)) {
    let k = 0;
    while (k < CONTENT_LENGTH.length && (data[i + k] | (k > 1 ? 0x20 : 0)) === CONTENT_LENGTH[k]) k++;
    if (k === CONTENT_LENGTH.length) {
      at = i + k;
      break;
    }
  }
  if (at === -1) return -1;
  while (data[at] === 32 || data[at] === 9) at++;
  let n = 0;
  for (; data[at] >= 48 && data[at] <= 57; at++) n = n * 10 + data[at] - 48;
  return n;
}

export class OpenLoop {
  /** @param {{url: string, rate: number, seconds: number, connections?: number, warmup?: number, headers?: Record<string, string>}} o */
  constructor(o) {
    const u = new URL(o.url);
    this.host = u.hostname;
    this.port = Number(u.port);
    const extra = Object.entries(o.headers ?? {}).map(([name, value]) => `${name}: ${value}\r\n`).join('');
    this.request = Buffer.from(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUser-Agent: brisk-open-loop\r\n${extra}\r\n`);
    this.rate = o.rate;
    this.seconds = o.seconds;
    this.warmup = Math.round(o.rate * (o.warmup ?? 0)); // requests due before the measured ones
    this.total = this.warmup + Math.max(1, Math.round(o.rate * o.seconds));
    this.conns = Array.from({ length: o.connections ?? 50 }, () => new Conn(this));
    this.idle = [...this.conns];
    this.waiting = []; // due times of requests whose time came while every connection was busy
    this.latencies = new Float64Array(this.total - this.warmup);
    this.done = 0;
    this.sent = 0;
    this.errors = 0;
    this.non2xx = 0;
    this.lateMs = 0;
    this.problem = null;
  }

  run() {
    return new Promise((resolve) => {
      this.resolve = resolve;
      this.t0 = performance.now() + 50; // connections open meanwhile
      this.tick();
      // Requests still unanswered this long after the last was due count as errors.
      this.deadline = setTimeout(() => this.finish(), (this.total / this.rate) * 1000 + 5000);
    });
  }

  tick() {
    const now = performance.now();
    const intervalMs = 1000 / this.rate;
    while (this.sent < this.total) {
      const due = this.t0 + this.sent * intervalMs;
      if (due > now) break;
      if (this.sent >= this.warmup) this.lateMs = Math.max(this.lateMs, now - due);
      this.sent++;
      const c = this.idle.pop();
      if (c === undefined) this.waiting.push(due);
      else c.send(due);
    }
    if (this.sent < this.total) setTimeout(() => this.tick(), Math.max(0, Math.min(1, this.t0 + this.sent * intervalMs - now)));
  }

  onAnswer(c, status) {
    // Answers to requests due during the warm-up are not recorded.
    if (c.due >= this.t0 + this.warmup * (1000 / this.rate)) {
      this.latencies[this.done++] = performance.now() - c.due;
      if (status < 200 || status > 399) this.non2xx++;
    } else this.warmDone = (this.warmDone ?? 0) + 1;
    if (this.done + (this.warmDone ?? 0) + this.errors >= this.total) return this.finish();
    const next = this.waiting.shift();
    if (next !== undefined) c.send(next);
    else this.idle.push(c);
  }

  onClose(c) {
    if (this.finished) return;
    if (c.busy) this.errors++;
    const i = this.idle.indexOf(c);
    if (i !== -1) this.idle.splice(i, 1);
    const j = this.conns.indexOf(c);
    if (j !== -1) this.conns.splice(j, 1);
    if (this.conns.length === 0) this.finish();
  }

  fail(message) {
    this.problem ??= message;
    this.errors++;
  }

  finish() {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.deadline);
    for (const c of this.conns) c.socket.destroy();
    const lat = this.latencies.subarray(0, this.done).sort();
    const q = (p) => (lat.length === 0 ? NaN : lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]);
    const measured = this.total - this.warmup;
    this.resolve({
      generator: 'node',
      rate: this.rate,
      sent: measured,
      completed: this.done,
      errors: measured - this.done + this.non2xx,
      non2xx: this.non2xx,
      p50: q(0.5),
      p99: q(0.99),
      p999: q(0.999),
      max: lat.length === 0 ? NaN : lat[lat.length - 1],
      achievedRate: this.done / this.seconds,
      lateMs: this.lateMs,
      problem: this.problem,
    });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const o = JSON.parse(process.argv[2]);
  const r = await new OpenLoop(o).run();
  process.stdout.write(`OLJSON ${JSON.stringify(r)}\n`);
  process.exit(0);
}

