// The game day's faults, one after the other. Each one does its damage and undoes what a
// person would undo (Redis started again, the provider repaired, the spike over, a frozen
// process thawed), and returns when the fault is over; the run then watches the shop
// recover. What it must never do is repair what Brisk is meant to repair: a killed instance
// or worker is left to Brisk (with the protections off, nobody replaces it).
//
// `shop` is what the run knows of the stack: `instances(service)` → pids, `workers()` →
// Brisk's worker pids, `data` (the PostgreSQL cluster and Redis), `url`, `internalKey`.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function signal(pid, name) {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}

/** Settings of a full run and of the quick one (CI), in ms. */
export function faultSettings(quick) {
  return quick
    ? { promoteAfterMs: 1500, redisDownMs: 10_000, providerTimeoutMs: 10_000, spikeMs: 10_000, freezeMs: 10_000 }
    : { promoteAfterMs: 2000, redisDownMs: 20_000, providerTimeoutMs: 30_000, spikeMs: 30_000, freezeMs: 30_000 };
}

async function provider(shop, settings) {
  const res = await fetch(`${shop.url}/internal/payments/provider`, { method: 'PUT', headers: { 'x-api-key': shop.internalKey, 'content-type': 'application/json' }, body: JSON.stringify(settings), signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`PUT /internal/payments/provider answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

/** Retries `fn` (a repair the run depends on) for up to `ms`. */
async function persist(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what}: ${error.message}`);
      await sleep(500);
    }
  }
}

/** @type {{id: string, name: string, run: (shop: object, traffic: object, s: object, note: (m: string) => void) => Promise<void>}[]} */
export const FAULTS = [
  {
    id: 'pg-failover',
    name: 'PostgreSQL primary killed, replica promoted',
    async run(shop, _traffic, s, note) {
      const cluster = shop.data.cluster;
      await cluster.primary.kill();
      // The time a failover manager takes to notice and decide.
      await sleep(s.promoteAfterMs);
      await cluster.replicas[0].promote();
      note(`primary (port ${cluster.primary.port}) killed; replica (port ${cluster.replicas[0].port}) promoted ${s.promoteAfterMs} ms later`);
    },
  },
  {
    id: 'payments-killed',
    name: 'a payments instance killed (SIGKILL)',
    async run(shop, _traffic, _s, note) {
      const [pid] = await shop.instances('payments');
      if (pid === undefined) throw new Error('no payments instance to kill');
      signal(pid, 'SIGKILL');
      note(`payments pid ${pid} killed`);
    },
  },
  {
    id: 'orders-frozen',
    name: 'an orders instance frozen (SIGSTOP)',
    async run(shop, _traffic, s, note) {
      const [pid] = await shop.instances('orders');
      if (pid === undefined) throw new Error('no orders instance to freeze');
      signal(pid, 'SIGSTOP');
      await sleep(s.freezeMs);
      // A hung process that comes back (a long GC pause, a stuck disk): if Brisk replaced it, it is gone.
      const thawed = signal(pid, 'SIGCONT');
      note(`orders pid ${pid} frozen; after ${s.freezeMs / 1000} s it was ${thawed ? 'still there: thawed' : 'gone (replaced)'}`);
    },
  },
  {
    id: 'redis-down',
    name: 'Redis down',
    async run(shop, _traffic, s, note) {
      await shop.data.redis.kill();
      await sleep(s.redisDownMs);
      await persist(() => shop.data.redis.start(), 20_000, 'starting Redis again');
      note(`Redis killed, started again after ${s.redisDownMs / 1000} s`);
    },
  },
  {
    id: 'provider-timeouts',
    name: 'payment provider times out',
    async run(shop, _traffic, s, note) {
      const before = await persist(() => provider(shop, {}), 15_000, 'reading the provider settings');
      await persist(() => provider(shop, { timeoutRate: 1 }), 15_000, 'setting the provider to time out');
      await sleep(s.providerTimeoutMs);
      await persist(() => provider(shop, { timeoutRate: before.timeoutRate ?? 0 }), 30_000, 'repairing the provider');
      note(`every charge timed out for ${s.providerTimeoutMs / 1000} s`);
    },
  },
  {
    id: 'spike',
    name: '3× traffic spike',
    async run(_shop, traffic, s, note) {
      traffic.setFactor(3);
      await sleep(s.spikeMs);
      traffic.setFactor(1);
      note(`3× the rates for ${s.spikeMs / 1000} s`);
    },
  },
  {
    id: 'worker-killed',
    name: 'a Brisk worker killed (SIGKILL)',
    async run(shop, _traffic, _s, note) {
      const [pid] = await shop.workers();
      if (pid === undefined) throw new Error('no Brisk worker to kill (is Brisk running with --workers 2?)');
      signal(pid, 'SIGKILL');
      note(`worker pid ${pid} killed`);
    },
  },
];
