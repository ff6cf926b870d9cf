// Micro benchmark of src/upstreams/balancers: ns per pick with 10 targets for every
// balancer, side by side, plus GC runs during 1M picks (0 means the common path allocates
// nothing). Each case runs in a fresh process: in one shared process the JIT's inlining
// choices for one balancer depend on which ran before it, which blurs both columns.
// A few seconds in all; prints, gates nothing.
//
//   npx tsc -p tsconfig.json && node bench/micro-balancers.mjs

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PerformanceObserver } from 'node:perf_hooks';
import { Target } from '../dist/src/upstreams/target.js';
import { createBalancer } from '../dist/src/upstreams/balancers/index.js';
import { hashKeyOf } from '../dist/src/upstreams/balancers/hash-key.js';

const N = 200_000;
const ROUNDS = 5;
const WEIGHTS = [1, 2, 3, 1, 1, 2, 1, 1, 3, 1];

function makeTargets() {
  return WEIGHTS.map((weight, i) => {
    const t = new Target('bench', { origin: `http://127.0.0.1:${7000 + i}`, basePath: '', weight }, {});
    // A loaded upstream: some requests in flight, latencies known.
    t.inFlight = (i * 7) % 5;
    t.ewmaMs = 2 + ((i * 13) % 9);
    return t;
  });
}

const cases = [
  ['round-robin', {}],
  ['weighted-round-robin', {}],
  ['least-connections', {}],
  ['random', {}],
  ['p2c-ewma', {}],
  ['p2c-ewma', { slowStartMs: 30_000, label: 'p2c-ewma +slow start' }],
  ['p2c-ewma', { exclude: true, label: 'p2c-ewma +1 excluded' }],
  ['consistent-hash', { algorithm: 'ring', keyed: true, label: 'hash ring' }],
  ['consistent-hash', { algorithm: 'maglev', keyed: true, label: 'hash maglev' }],
  ['consistent-hash', { algorithm: 'ring', keyed: false, label: 'hash (no key → wrr)' }],
];

// 1000 distinct keys, built up front: the key's own extraction is timed separately below.
const keys = Array.from({ length: 1000 }, (_, i) => `user-${i * 7919}`);

async function bench(kind, opts) {
  const targets = makeTargets();
  const hash = { source: 'header', name: 'x-user', algorithm: opts.algorithm ?? 'ring', boundedLoad: 1.25 };
  const balancer = createBalancer({ name: 'bench', balancer: kind, hash, stickySession: null, slowStartMs: opts.slowStartMs ?? 0 }, targets);
  const now = Date.now();
  if (opts.slowStartMs) targets[3].availableSince = now - 10_000;
  const ctx = { exclude: opts.exclude ? new Set([targets[2]]) : null, panic: false, hashKey: null, now };
  let sink = 0;
  const run = () => {
    for (let i = 0; i < N; i++) {
      if (opts.keyed) ctx.hashKey = keys[i % 1000];
      sink += balancer.pick(ctx).weight;
    }
  };
  for (let i = 0; i < 5; i++) run(); // warm up
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    run();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / N);
  }
  // GC entries arrive asynchronously: the count is read after the event loop turns.
  const gc = { runs: 0 };
  const obs = new PerformanceObserver((list) => (gc.runs += list.getEntries().length));
  obs.observe({ entryTypes: ['gc'] });
  for (let i = 0; i < 5; i++) run();
  await new Promise((r) => setTimeout(r, 20));
  obs.disconnect();
  return { ns: best, gcs: gc.runs, sink };
}


const only = process.argv[2];
if (only !== undefined) {
  // Child: one case, one line of JSON.
  const [kind, opts] = cases[Number(only)];
  const r = await bench(kind, opts);
  process.stdout.write(JSON.stringify({ ns: r.ns, gcs: r.gcs }) + '\n');
  process.exit(0);
}

console.log(`balancer micro benchmark: ${WEIGHTS.length} targets, best of ${ROUNDS} x ${N} picks (ns/pick, lower is better)`);
console.log('balancer                 ns/pick   GC runs in 1M picks');
const self = fileURLToPath(import.meta.url);
for (let i = 0; i < cases.length; i++) {
  const [kind, opts] = cases[i];
  const r = JSON.parse(execFileSync(process.execPath, [self, String(i)], { encoding: 'utf8' }));
  console.log(`${(opts.label ?? kind).padEnd(24)} ${r.ns.toFixed(1).padStart(7)}   ${String(r.gcs).padStart(6)}`);
}

// Key extraction, for the consistent-hash path: a cookie among others.
const raw = ['Host', 'shop.example.com', 'Accept', '*/*', 'Cookie', 'theme=dark; lang=en; session="abc123def456"; x=1', 'X-User', 'u-42'];
const cookieHash = { source: 'cookie', name: 'session', algorithm: 'ring', boundedLoad: 1.25 };
const headerHash = { source: 'header', name: 'x-user', algorithm: 'ring', boundedLoad: 1.25 };
for (const [label, h] of [['hashKeyOf cookie', cookieHash], ['hashKeyOf header', headerHash]]) {
  let best = Infinity;
  let sink = 0;
  for (let r = 0; r < ROUNDS + 2; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) sink += hashKeyOf(h, raw, '/', '10.0.0.1').length;
    if (r >= 2) best = Math.min(best, Number(process.hrtime.bigint() - t0) / N);
  }
  console.log(`${label.padEnd(24)} ${best.toFixed(1).padStart(7)}   (sink ${sink > 0})`);
}
