#!/usr/bin/env node
/**
 * Takes docs/dashboard.png: the demo shop (examples/demo) on free loopback ports, a minute
 * of mixed traffic through it (products, users, the rewritten shop route, slow calls that
 * time out, unknown paths), one products instance stopped so the page shows a target
 * going down, then a screenshot of the dashboard in headless Chromium.
 *
 *   node scripts/screenshot-dashboard.mjs                 # light scheme, docs/dashboard.png
 *   node scripts/screenshot-dashboard.mjs --dark out.png  # dark scheme, another file
 *   node scripts/screenshot-dashboard.mjs --serve         # keep running, print the URL
 *
 * Needs Chromium (BRISK_CHROMIUM, or chromium on PATH). Builds first when needed.
 *
 * Two stand-ins, both said out loud when used:
 * - Alerting runs in another part of Brisk; the page's alert list is shown with a small
 *   view that fires while a products target is down.
 * - When the gateway's stats have no request windows yet (the metrics recorder is not
 *   there), the request numbers are measured by this script's own load generator (per
 *   route and upstream: count, 5xx, p50/p95/p99), so the charts are not empty.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureReady, ROOT } from './ensure.mjs';

const args = process.argv.slice(2);
const dark = args.includes('--dark');
const keep = args.includes('--serve');
const out = args.find((a) => !a.startsWith('--')) ?? join(ROOT, 'docs', 'dashboard.png');
const WARMUP_S = Number(process.env.BRISK_SCREENSHOT_SECONDS ?? 100);

function say(message) {
  process.stdout.write(`[screenshot] ${message}\n`);
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

ensureReady();
const dist = (p) => pathToFileURL(join(ROOT, 'dist', p)).href;
const { Gateway } = await import(dist('src/gateway/gateway.js'));
const { freePort } = await import(dist('test/helpers/free-port.js'));
const { launchBrowser } = await import(dist('test/helpers/browser.js'));
const { parse, stringify } = await import('yaml');
const pino = (await import('pino')).default;

// ---- the demo's services, on free ports
const services = [
  { name: 'products-1', script: 'products.mjs', instance: '1' },
  { name: 'products-2', script: 'products.mjs', instance: '2' },
  { name: 'products-3', script: 'products.mjs', instance: '3' },
  { name: 'users-1', script: 'users.mjs', instance: '1' },
  { name: 'orders-1', script: 'orders.mjs', instance: '1' },
  { name: 'alerts', script: 'alerts.mjs', instance: '1' },
];
const children = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});
for (const s of services) {
  s.port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'examples', 'demo', 'services', s.script)], { env: { ...process.env, PORT: String(s.port), INSTANCE: s.instance, HOST: '127.0.0.1' }, stdio: 'ignore' });
  children.push(child);
  s.child = child;
}
await sleep(600);

const config = parse(readFileSync(join(ROOT, 'examples', 'demo', 'brisk.yaml'), 'utf8'));
config.listen = [{ address: '127.0.0.1:0', name: 'public' }];
config.admin = { address: '127.0.0.1:0' };
config.logging = { level: 'warn', format: 'json', accessLog: false };
config.upstreams.products.targets = services.filter((s) => s.script === 'products.mjs').map((s, i) => ({ url: `http://127.0.0.1:${s.port}`, ...(i === 2 ? { weight: 2 } : {}) }));
config.upstreams.users.targets = [{ url: `http://127.0.0.1:${services[3].port}` }];
config.upstreams.orders.targets = [{ url: `http://127.0.0.1:${services[4].port}` }];
// The demo's stand-in IM group, on its free port; the alert queue in the temporary folder.
for (const r of Object.values(config.alerts?.receivers ?? {})) r.webhook = `http://127.0.0.1:${services[5].port}/webhook`;
if (config.alerts?.queue !== undefined) config.alerts.queue.dir = './alerts-queue';
const dir = mkdtempSync(join(tmpdir(), 'brisk-screenshot-'));
const file = join(dir, 'brisk.yaml');
writeFileSync(file, stringify(config));
const gw = await Gateway.start({ configFile: file, watch: false, logger: pino({ level: 'warn' }) });
const base = `http://127.0.0.1:${gw.listeners[0].port}`;
const admin = `http://127.0.0.1:${gw.admin.port}`;
say(`gateway ${base}, dashboard ${admin}/dashboard`);

// ---- load: a few concurrent loops over a mix of requests
const mix = [
  ['/api/products', 'products', 'products', 30],
  ['/api/products/2', 'products', 'products', 20],
  ['/api/users', 'users', 'users', 15],
  ['/api/users/whoami', 'users', 'users', 5],
  ['/shop/products/3', 'shop', 'products', 15],
  ['/api/products/slow?ms=120', 'products', 'products', 6],
  ['/api/products/slow?ms=3000', 'products', 'products', 0.4],
  ['/nowhere', null, null, 0.2],
  ['/api/orders/1/details', 'order-details', null, 6],
];
const weights = mix.reduce((n, m) => n + m[3], 0);
const measured = [];
let running = true;
async function loop() {
  while (running) {
    let pick = Math.random() * weights;
    const [path, route, upstream] = mix.find((m) => (pick -= m[3]) < 0) ?? mix[0];
    const started = performance.now();
    let status = 0;
    try {
      const res = await fetch(base + path);
      await res.arrayBuffer();
      status = res.status;
    } catch {
      status = 502;
    }
    measured.push({ at: Date.now(), route, upstream, status, ms: performance.now() - started });
    await sleep(15 + Math.random() * 40);
  }
}
const loops = Array.from({ length: 6 }, loop);

// ---- stand-in request windows, only when the gateway has none
await sleep(3000);
if (gw.stats.snapshot(5).total.requests === 0) {
  say('the gateway reports no request windows (metrics recorder absent): using the load generator\'s own measurements for the request numbers');
  const real = gw.stats.snapshot.bind(gw.stats);
  const windowOf = (items, windowS) => {
    const ms = items.map((m) => m.ms).sort((a, b) => a - b);
    const q = (p) => (ms.length === 0 ? null : ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]);
    const errors = items.filter((m) => m.status >= 500).length;
    return { windowS, requests: items.length, rps: items.length / windowS, errors, errorRatio: items.length === 0 ? 0 : errors / items.length, p50Ms: q(0.5), p95Ms: q(0.95), p99Ms: q(0.99) };
  };
  gw.stats.snapshot = (windowS) => {
    const s = real(windowS);
    const end = Math.floor(Date.now() / 1000) * 1000;
    const items = measured.filter((m) => m.at >= end - windowS * 1000 && m.at < end);
    return {
      ...s,
      total: windowOf(items, windowS),
      routes: s.routes.map((r) => ({ ...r, window: windowOf(items.filter((m) => m.route === r.name), windowS) })),
      upstreams: s.upstreams.map((u) => ({ ...u, window: windowOf(items.filter((m) => m.upstream === u.name), windowS) })),
      recentErrors: measured
        .filter((m) => m.status >= 500)
        .slice(-8)
        .reverse()
        .map((m, i) => ({ at: m.at, requestId: `demo-${i}`, method: 'GET', route: m.route, upstream: m.upstream, target: null, status: m.status, code: m.status === 504 ? 'BRISK_UPSTREAM_TOTAL_TIMEOUT' : null })),
    };
  };
  setInterval(() => measured.splice(0, Math.max(0, measured.findIndex((m) => m.at > Date.now() - 400_000))), 10_000).unref();
}

// ---- alerts: the gateway's own (the demo config's rules); the stand-in only when alerting does not run
let downSince = null;
if (gw.alerts === null) gw.alerts = {
  list() {
    const down = gw.stats.snapshot(1).targets.filter((t) => t.health !== 'healthy');
    if (down.length === 0) {
      downSince = null;
      return [];
    }
    downSince ??= Date.now();
    return [
      { rule: 'TargetDown', severity: 'warning', state: Date.now() - downSince > 10_000 ? 'firing' : 'pending', since: downSince, message: `${down.length} target(s) failing health checks: ${down.map((t) => t.origin).join(', ')}`, labels: { upstream: down[0].upstream }, silenced: false },
    ];
  },
};

// ---- one instance goes down part-way through
const victim = services[1];
setTimeout(() => {
  say(`stopping ${victim.name} (port ${victim.port})`);
  victim.child.kill('SIGKILL');
}, Math.max(5, WARMUP_S - 25) * 1000).unref();

const browser = await launchBrowser({ width: 1400, height: 1000, colorScheme: dark ? 'dark' : 'light' });
const page = await browser.context.newPage();
await page.goto(`${admin}/dashboard`);
say(`letting the charts fill for ${WARMUP_S} s`);
await sleep(WARMUP_S * 1000);

if (keep) {
  say(`serving: ${admin}/dashboard (Ctrl-C to stop)`);
  await new Promise((resolve) => process.once('SIGINT', resolve));
} else {
  await page.screenshot({ path: out, fullPage: true });
  say(`wrote ${relative(process.cwd(), out) || out}`);
}

running = false;
await Promise.allSettled(loops);
await browser.close();
await gw.stop();
for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
rmSync(dir, { recursive: true, force: true });
process.exit(0);
