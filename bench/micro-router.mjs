// Micro benchmark of src/router: ns per match() on a 50-route table, side by side with
// find-my-way (fastify's router) on the path-only part of the same table, plus a count of
// GC runs during the static-route loop (0 means the common path allocates nothing that
// survives long enough to matter). A few seconds in all; prints ratios, gates nothing.
//
//   npx tsc -p tsconfig.json && node bench/micro-router.mjs

import { PerformanceObserver } from 'node:perf_hooks';
import { compileRouter } from '../dist/src/router/index.js';

let findMyWay = null;
try {
  findMyWay = (await import('find-my-way')).default;
} catch {
  // Optional peer: without it only Brisk's numbers are printed.
}

const routes = [];
let index = 0;
const add = (name, match) =>
  routes.push({ name, index: index++, upstream: 'u', maxBodySize: 0, match: { hosts: [], methods: [], headers: {}, query: {}, ...match } });

// 50 routes: 15 exact, 20 param patterns, 10 prefixes, 3 host-bound, 2 regex.
for (let i = 0; i < 15; i++) add(`exact${i}`, { path: `/static/page${i}`, methods: ['GET'] });
for (let i = 0; i < 10; i++) add(`param${i}`, { path: `/svc${i}/users/:id/orders/:orderId` });
for (let i = 0; i < 10; i++) add(`rest${i}`, { path: `/files${i}/:bucket/*` });
for (let i = 0; i < 10; i++) add(`prefix${i}`, { pathPrefix: `/api/v${i}` });
for (let i = 0; i < 3; i++) add(`host${i}`, { hosts: [`h${i}.example.com`], pathPrefix: '/' });
add('regex0', { pathRegex: '^/re/(?<x>[a-z]+)$' });
add('regex1', { pathRegex: '^/img/.+\\.png$' });

const router = compileRouter(routes);

const cases = [
  ['static', 'GET', 'shop.example.com', '/static/page11'],
  ['param', 'GET', 'shop.example.com', '/svc7/users/42/orders/9'],
  ['rest', 'GET', 'shop.example.com', '/files8/b/a/b/c.txt'],
  ['prefix', 'GET', 'shop.example.com', '/api/v9/things/1'],
  ['host', 'GET', 'H2.example.com:8443', '/anything'],
  ['port', 'GET', 'Shop.Example.com:8443', '/static/page11'],
  ['miss', 'GET', 'shop.example.com', '/nothing/here'],
];

// Best of 5 rounds: on a shared machine the minimum is the figure least bent by neighbours.
const N = 60_000;
const ROUNDS = 5;
const headers = {};

function best(fn) {
  let min = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    min = Math.min(min, Number(process.hrtime.bigint() - t0) / N);
  }
  return min;
}

let sink = 0;
function timeBrisk(method, host, path) {
  return {
    ns: best(() => {
      for (let i = 0; i < N; i++) sink += router.match(method, host, path, '', headers) === null ? 0 : 1;
    }),
  };
}

let fmw = null;
if (findMyWay !== null) {
  fmw = findMyWay({ ignoreTrailingSlash: false });
  const noop = () => {};
  for (const r of routes) {
    if (r.match.path !== undefined) fmw.on(r.match.methods.length ? r.match.methods : ['GET'], r.match.path, noop);
    else if (r.match.pathPrefix !== undefined && r.match.hosts.length === 0) fmw.on('GET', `${r.match.pathPrefix}/*`, noop);
  }
}

function timeFmw(method, path) {
  return {
    ns: best(() => {
      for (let i = 0; i < N; i++) sink += fmw.find(method, path) === null ? 0 : 1;
    }),
  };
}

// Warm up on mixed traffic first, as a gateway sees it: timing each case cold would
// measure V8 re-optimising for the new shape of input rather than the router.
for (let i = 0; i < 100_000; i++) {
  for (const [, method, host, path] of cases) {
    router.match(method, host, path, '', headers);
    if (fmw !== null) fmw.find(method, path);
  }
}

console.log(`router micro benchmark: ${routes.length} routes, best of ${ROUNDS} x ${N} matches per case (ns/match, lower is better)`);
console.log('case      brisk   find-my-way  brisk/fmw');
for (const [name, method, host, path] of cases) {
  const b = timeBrisk(method, host, path);
  const f = fmw !== null && name !== 'host' && name !== 'port' ? timeFmw(method, path) : null;
  const ratio = f === null ? '' : (b.ns / f.ns).toFixed(2);
  console.log(`${name.padEnd(8)} ${b.ns.toFixed(1).padStart(7)}  ${(f === null ? '-' : f.ns.toFixed(1)).padStart(11)}  ${ratio.padStart(9)}`);
}

// GC runs while matching static routes (one with a port in Host) 2M times: allocation on the common path shows up here.
let gcs = 0;
const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));
obs.observe({ entryTypes: ['gc'] });
sink = 0;
for (let i = 0; i < 1_000_000; i++) {
  sink += router.match('GET', 'shop.example.com', '/static/page3', '', headers) === null ? 0 : 1;
  sink += router.match('GET', 'Shop.example.com:8080', '/api/v3/x', '', headers) === null ? 0 : 1;
}
await new Promise((r) => setTimeout(r, 50));
obs.disconnect();
console.log(`GC runs during 2M static/prefix matches: ${gcs} (sink ${sink})`);
