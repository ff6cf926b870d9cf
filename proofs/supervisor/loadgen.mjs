// An open-loop load generator: requests leave at a fixed rate whatever the answers do (a
// closed loop would slow down with the server and hide its stalls), each with a client
// timeout, and every outcome is kept with its send time so that a scenario can count the
// errors and the latency of any time slice.
import diagnostics from 'node:diagnostics_channel';
import { Agent, request } from 'undici';

/** Generators that track connections, by the id their requests carry in `x-load-gen`. */
const tracking = new Map();
let nextGen = 0;
/** Connection records of undici's sockets (each socket once). */
const connections = new WeakMap();
diagnostics.subscribe('undici:client:sendHeaders', ({ headers, socket }) => {
  const m = /\r\nx-load-gen: (\d+)-(\d+)\r\n/.exec(`\r\n${headers}`);
  const gen = m === null ? undefined : tracking.get(Number(m[1]));
  if (gen === undefined) return;
  let conn = connections.get(socket);
  if (conn === undefined) {
    conn = { port: socket.localPort, openedAt: gen.now(), closedAt: null };
    connections.set(socket, conn);
    socket.once('close', () => (conn.closedAt = gen.now()));
  }
  gen.written.set(Number(m[2]), { conn, at: gen.now() });
});

export class LoadGen {
  /**
   * @param {string} url         what every request GETs
   * @param {number} rate        requests per second
   * @param {{timeoutMs?: number, connections?: number, trackConnections?: boolean}} [options]
   *   trackConnections: each outcome also says on which connection (client port) its request was written and when
   */
  constructor(url, rate, options = {}) {
    this.url = url;
    this.rate = rate;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.agent = new Agent({ connections: options.connections ?? 512, pipelining: 1, keepAliveTimeout: 30_000, connect: { timeout: this.timeoutMs } });
    /** @type {{t: number, ms: number, ok: boolean, status: number, error: string | null}[]} */
    this.results = [];
    this.inFlight = 0;
    this.started = performance.now();
    this.sent = 0;
    this.sentAtRateChange = 0;
    this.rateChangedAt = this.started;
    this.timer = null;
    /** Requests that could not even leave on time (the generator itself lagged), ms. */
    this.maxLagMs = 0;
    this.gen = options.trackConnections === true ? nextGen++ : null;
    /** Request number → `{conn: {port, openedAt, closedAt}, at}`: where and when its head was written. */
    this.written = new Map();
    if (this.gen !== null) tracking.set(this.gen, this);
  }

  /** Milliseconds since the generator started. */
  now() {
    return performance.now() - this.started;
  }

  start() {
    this.timer = setInterval(() => this.pump(), 5);
    return this;
  }

  setRate(rate) {
    this.pump();
    this.rate = rate;
    this.rateChangedAt = performance.now();
    this.sentAtRateChange = this.sent;
  }

  pump() {
    const now = performance.now();
    const due = this.sentAtRateChange + Math.floor(((now - this.rateChangedAt) / 1000) * this.rate);
    const behind = due - this.sent;
    if (behind > 1) this.maxLagMs = Math.max(this.maxLagMs, (behind / this.rate) * 1000);
    while (this.sent < due) {
      this.sent++;
      this.one();
    }
  }

  one() {
    const t = this.now();
    const seq = this.sent;
    this.inFlight++;
    const done = (ok, status, error) => {
      this.inFlight--;
      const row = { t, ms: this.now() - t, ok, status, error };
      if (this.gen !== null) {
        const w = this.written.get(seq);
        this.written.delete(seq);
        row.conn = w?.conn ?? null;
        row.writtenAt = w?.at ?? null;
      }
      this.results.push(row);
    };
    const headers = this.gen === null ? undefined : { 'x-load-gen': `${this.gen}-${seq}` };
    request(this.url, { dispatcher: this.agent, headers, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs }).then(
      async (res) => {
        await res.body.dump();
        done(res.statusCode >= 200 && res.statusCode < 300, res.statusCode, null);
      },
      (err) => done(false, 0, err.code ?? err.message),
    );
  }

  /** Stops sending; resolves once every request in flight has an outcome. */
  async stop() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const deadline = Date.now() + this.timeoutMs + 2000;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await this.agent.close().catch(() => {});
    if (this.gen !== null) tracking.delete(this.gen);
  }

  /** Outcomes of the requests sent in [from, to) ms. */
  slice(from, to = Infinity) {
    const rows = this.results.filter((r) => r.t >= from && r.t < to);
    const errors = rows.filter((r) => !r.ok);
    const ms = rows.filter((r) => r.ok).map((r) => r.ms).sort((a, b) => a - b);
    const q = (p) => (ms.length === 0 ? null : Math.round(ms[Math.min(ms.length - 1, Math.floor(p * ms.length))] * 10) / 10);
    const kinds = {};
    for (const e of errors) {
      const k = e.error ?? String(e.status);
      kinds[k] = (kinds[k] ?? 0) + 1;
    }
    return { requests: rows.length, errors: errors.length, errorKinds: kinds, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: ms.length === 0 ? null : Math.round(ms[ms.length - 1]) };
  }
}
