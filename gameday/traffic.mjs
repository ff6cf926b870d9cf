// The game day's traffic: an open-loop e-commerce mix through Brisk. Every kind of visit
// leaves on its own schedule (a rate per second, times the spike factor) whatever the
// answers do — a closed loop would slow down with the shop and hide its stalls (coordinated
// omission). Every HTTP request is kept with its send time, so any time slice can be read.
//
// An error, for the client, is: a 5xx answer, a connection error, or no answer within the
// client timeout (TIMEOUT_MS; CHECKOUT_TIMEOUT_MS for checkouts, which Brisk lets run 12 s).
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import WebSocket from 'ws';

export const TIMEOUT_MS = 5000;
export const CHECKOUT_TIMEOUT_MS = 15_000;
/** Client retries of one checkout, on the same Idempotency-Key, and the waits before them. */
export const CHECKOUT_RETRY_DELAYS_MS = [1000, 2000, 4000];
/** How long a client polls a checkout that answered 202 (still running). */
const POLL_FOR_MS = 45_000;

/** The endpoints of the table, in its order. */
export const ENDPOINTS = ['browse', 'search', 'cart', 'checkout', 'status', 'chat'];

/** Products with deep stock (the mix buys these: a sold-out item is a 409, not a fault). */
const BUYABLE = [18, 18, 18, 14, 15, 7, 16, 9];
const SEARCHES = ['tea', '茶', 'mug', 'pen', 'soap', '礼品卡', 'kettle', 'notebook', 'mango', '芝麻'];
const QUESTIONS = ['运费多少钱？', 'How do I reset my password?', 'How long does shipping take?', '怎么退货？', 'Which payment methods do you accept?', '可以用支付宝付款吗？'];

const pick = (list) => list[Math.floor(Math.random() * list.length)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The rates of a run, per second (`scale` multiplies them all). */
export function mixRates(scale = 1) {
  return { browse: 6 * scale, search: 3 * scale, cart: 3 * scale, checkout: 1.5 * scale, status: 3 * scale, chat: 0.5 * scale };
}

export class Traffic {
  /**
   * @param {string} url Brisk's public URL
   * @param {{token: string, id: string}[]} shoppers signed-up shoppers
   * @param {Record<string, number>} rates visits per second by kind
   */
  constructor(url, shoppers, rates) {
    this.url = url;
    this.wsUrl = url.replace(/^http/, 'ws');
    this.shoppers = shoppers.map((s) => ({ ...s, orders: [] }));
    this.rates = rates;
    this.factor = 1;
    this.agent = new Agent({ connections: 256, pipelining: 1, keepAliveTimeout: 10_000, connect: { timeout: TIMEOUT_MS } });
    /** @type {{kind: string, t: number, ms: number, ok: boolean, status: number, error: string | null}[]} */
    this.requests = [];
    /** @type {{t: number, outcome: string, orderId: string | null, attempts: number, ms: number}[]} */
    this.checkouts = [];
    /** Orders the clients were told about (for the books). */
    this.acknowledged = new Map();
    this.inFlight = 0;
    this.started = performance.now();
    this.sent = Object.fromEntries(Object.keys(rates).map((k) => [k, 0]));
    this.owed = Object.fromEntries(Object.keys(rates).map((k) => [k, 0]));
    this.last = this.started;
    this.timer = null;
    this.maxLagMs = 0;
  }

  /** Milliseconds since the traffic started. */
  now() {
    return performance.now() - this.started;
  }

  start() {
    this.timer = setInterval(() => this.pump(), 10);
    return this;
  }

  /** Multiplies every rate (a spike), from now on. */
  setFactor(factor) {
    this.pump();
    this.factor = factor;
  }

  pump() {
    const now = performance.now();
    const dt = (now - this.last) / 1000;
    // The longest gap between two ticks: how late a visit could leave (the tick is 10 ms).
    this.maxLagMs = Math.max(this.maxLagMs, dt * 1000);
    this.last = now;
    for (const [kind, rate] of Object.entries(this.rates)) {
      this.owed[kind] += rate * this.factor * dt;
      while (this.owed[kind] >= 1) {
        this.owed[kind] -= 1;
        this.sent[kind]++;
        this.visit(kind);
      }
    }
  }

  visit(kind) {
    this.inFlight++;
    const shopper = pick(this.shoppers);
    const run = {
      browse: () => this.call('browse', 'GET', Math.random() < 0.5 ? '/api/products' : `/api/products/${1 + Math.floor(Math.random() * 18)}`),
      search: () => this.call('search', 'GET', `/api/products?q=${encodeURIComponent(pick(SEARCHES))}`),
      cart: () => this.call('cart', 'PUT', `/api/cart/items/${pick(BUYABLE)}`, { token: shopper.token, body: { qty: 1 + Math.floor(Math.random() * 3) } }),
      checkout: () => this.checkout(shopper),
      status: () => this.status(shopper),
      chat: () => this.chat(shopper),
    }[kind];
    run()
      .catch(() => {})
      .finally(() => this.inFlight--);
  }

  /** One HTTP request, recorded under `kind`; resolves to {status, body} or {status: 0, error}. */
  async call(kind, method, path, options = {}) {
    const t = this.now();
    const timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
    const headers = { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...(options.body ? { 'content-type': 'application/json' } : {}), ...options.headers };
    try {
      const res = await request(`${this.url}${path}`, {
        method,
        headers,
        body: options.body ? JSON.stringify(options.body) : undefined,
        dispatcher: this.agent,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.body.text();
      const status = res.statusCode;
      this.requests.push({ kind, t, ms: this.now() - t, ok: status < 500, status, error: null });
      let body = null;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON (a proxy page): the status says enough
      }
      return { status, body };
    } catch (err) {
      const error = err.name === 'TimeoutError' || err.code === 'UND_ERR_HEADERS_TIMEOUT' || err.code === 'UND_ERR_BODY_TIMEOUT' ? 'timeout' : (err.code ?? err.message);
      this.requests.push({ kind, t, ms: this.now() - t, ok: false, status: 0, error });
      return { status: 0, error };
    }
  }

  /**
   * A checkout as a careful client does it: one Idempotency-Key, retried on a 5xx (but the
   * final SHOP_CHECKOUT_FAILED), a connection error or a timeout; a 202 is polled to its end.
   */
  async checkout(shopper) {
    const t = this.now();
    const key = randomUUID();
    const items = [{ productId: pick(BUYABLE), qty: 1 }];
    let attempts = 0;
    let outcome = 'unknown';
    let orderId = null;
    for (;;) {
      attempts++;
      const r = await this.call('checkout', 'POST', '/api/checkout', { token: shopper.token, body: { items }, headers: { 'idempotency-key': key }, timeoutMs: CHECKOUT_TIMEOUT_MS });
      const code = r.body?.error?.code;
      orderId = r.body?.orderId ?? r.body?.error?.orderId ?? r.body?.error?.details?.orderId ?? orderId;
      if (r.status === 201) outcome = 'confirmed';
      else if (r.status === 202) outcome = await this.poll(shopper, r.body?.checkoutId);
      else if (r.status === 409 && code === 'SHOP_OUT_OF_STOCK') outcome = 'out-of-stock';
      else if (r.status === 402) outcome = 'declined';
      else if (code === 'SHOP_CHECKOUT_FAILED') outcome = 'failed';
      else if (r.status === 429) outcome = 'rate-limited';
      else if (r.status >= 400 && r.status < 500) outcome = `refused ${r.status}`;
      else outcome = 'unknown';
      if (outcome !== 'unknown' || attempts > CHECKOUT_RETRY_DELAYS_MS.length) break;
      await sleep(CHECKOUT_RETRY_DELAYS_MS[attempts - 1]);
    }
    if (typeof outcome === 'object') ({ outcome, orderId } = { outcome: outcome.outcome, orderId: outcome.orderId ?? orderId });
    if (orderId !== null && orderId !== undefined) {
      orderId = String(orderId);
      if (outcome === 'confirmed') {
        this.acknowledged.set(orderId, 'confirmed');
        shopper.orders.push(orderId);
      } else if (outcome === 'failed' || outcome === 'declined') this.acknowledged.set(orderId, 'cancelled');
    }
    this.checkouts.push({ t, outcome, orderId, attempts, ms: this.now() - t });
  }

  /** Polls a checkout that answered 202 until it is final (or the client gives up). */
  async poll(shopper, checkoutId) {
    const until = this.now() + POLL_FOR_MS;
    while (this.now() < until) {
      await sleep(1000);
      const r = await this.call('status', 'GET', `/api/checkouts/${encodeURIComponent(checkoutId)}`, { token: shopper.token });
      if (r.status !== 200) continue;
      if (r.body.state === 'committed') return { outcome: 'confirmed', orderId: r.body.orderId };
      if (r.body.state === 'compensated') return { outcome: r.body.reason === 'out of stock' ? 'out-of-stock' : r.body.reason === 'payment declined' ? 'declined' : 'failed', orderId: r.body.orderId };
    }
    return 'unknown';
  }

  /** The order page (one call, three services) of one of the shopper's orders, or their list. */
  async status(shopper) {
    const id = shopper.orders.length > 0 ? pick(shopper.orders.slice(-10)) : null;
    await this.call('status', 'GET', id === null ? '/api/orders' : `/api/orders/${id}/page`, { token: shopper.token });
  }

  /** A chat: WebSocket through Brisk, hello, one question, the bot's answer, goodbye. */
  chat(shopper) {
    const t = this.now();
    return new Promise((resolve) => {
      let done = false;
      const ws = new WebSocket(`${this.wsUrl}/support/ws`);
      const finish = (ok, error, status = ok ? 101 : 0) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.requests.push({ kind: 'chat', t, ms: this.now() - t, ok, status, error });
        ws.terminate();
        resolve();
      };
      const timer = setTimeout(() => finish(false, 'timeout'), TIMEOUT_MS);
      ws.on('unexpected-response', (_req, res) => finish(res.statusCode < 500, res.statusCode < 500 ? null : `http ${res.statusCode}`, res.statusCode));
      ws.on('error', (err) => finish(false, err.code ?? err.message));
      ws.on('close', () => finish(false, 'closed'));
      ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', language: Math.random() < 0.5 ? 'zh' : 'en', token: shopper.token })));
      let asked = false;
      ws.on('message', (data) => {
        let frame;
        try {
          frame = JSON.parse(data.toString());
        } catch {
          return finish(false, 'bad frame');
        }
        if (frame.type === 'welcome' && !asked) {
          asked = true;
          ws.send(JSON.stringify({ type: 'message', text: pick(QUESTIONS) }));
        } else if (frame.type === 'message' && frame.from === 'bot' && asked) finish(true, null);
        else if (frame.type === 'error') finish(false, frame.code ?? 'error frame');
      });
    });
  }

  /** Stops sending; resolves once every visit in flight has ended (checkouts poll up to ~1 min). */
  async stop() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const deadline = Date.now() + CHECKOUT_TIMEOUT_MS * 4 + POLL_FOR_MS;
    while (this.inFlight > 0 && Date.now() < deadline) await sleep(100);
    await this.agent.close().catch(() => {});
  }
}
