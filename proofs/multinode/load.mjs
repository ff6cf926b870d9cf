// Open-loop load spread over the Brisk nodes, as clients behind DNS round robin or an L4
// balancer see them: each request goes to the next node; when that node cannot be
// reached (refused, reset, timed out before an answer), the client tries the next node
// once — what a client with several addresses, or a balancer with health checks, does.
// A request that fails on both, or gets a 5xx, is an error.
import { Agent, request } from 'undici';

export class SpreadLoad {
  /**
   * @param {{url: string, name: string}[]} nodes
   * @param {string} path
   * @param {number} rate requests per second over all nodes
   */
  constructor(nodes, path, rate, timeoutMs = 3000) {
    this.nodes = nodes;
    this.path = path;
    this.rate = rate;
    this.timeoutMs = timeoutMs;
    this.agent = new Agent({ connections: 64, keepAliveTimeout: 10_000, connect: { timeout: 1000 } });
    this.results = [];
    this.inFlight = 0;
    this.sent = 0;
    this.timer = null;
  }

  start() {
    this.t0 = performance.now();
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - this.t0) / 1000) * this.rate);
      while (this.sent < due) this.one(this.sent++);
    }, 5);
    return this;
  }

  async one(n) {
    const t = performance.now();
    this.inFlight++;
    const first = this.nodes[n % this.nodes.length];
    let outcome = await this.try(first);
    let failedOver = false;
    if (outcome.status === 0) {
      failedOver = true;
      outcome = await this.try(this.nodes[(n + 1) % this.nodes.length]);
    }
    this.inFlight--;
    this.results.push({ t, node: first.name, status: outcome.status, error: outcome.error, failedOver });
  }

  async try(node) {
    try {
      const res = await request(`${node.url}${this.path}`, { dispatcher: this.agent, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
      await res.body.dump();
      return { status: res.statusCode, error: null };
    } catch (err) {
      return { status: 0, error: err.code ?? err.message };
    }
  }

  /** Results sent in [from, to) (performance.now() times). */
  slice(from = 0, to = Infinity) {
    return this.results.filter((r) => r.t >= from && r.t < to);
  }

  static summary(results, okStatuses = [200]) {
    const errors = results.filter((r) => !okStatuses.includes(r.status));
    const kinds = {};
    for (const e of errors) kinds[e.error ?? `status ${e.status}`] = (kinds[e.error ?? `status ${e.status}`] ?? 0) + 1;
    return { requests: results.length, errors: errors.length, failedOver: results.filter((r) => r.failedOver).length, kinds };
  }

  async stop() {
    clearInterval(this.timer);
    const deadline = Date.now() + this.timeoutMs * 2 + 1000;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await this.agent.close().catch(() => {});
  }
}
