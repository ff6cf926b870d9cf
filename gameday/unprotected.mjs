// The game day's second run: the same shop and the same mix with Brisk's protections off.
// Brisk gets a second config, made from packages/shop/brisk.yaml by taking out exactly the
// protections — the routes, auth, rate limits and caches stay as they are:
//
// - plain round robin (`balancer: round-robin`, no latency or load awareness);
// - no retries (`retry.attempts: 0`) and no hedging (`hedge: off`);
// - no health checks (no `healthCheck`, no `outlierDetection`): every target stays in the
//   rotation whatever it answers;
// - no supervisor: no `services:` section. The services are started here as plain
//   processes on fixed ports, once, like a start script would; one that dies stays dead,
//   one that hangs stays in the rotation. (No alert actions either: they restart or scale
//   services.)
//
// Brisk still runs two workers: a worker's replacement is the primary's job in Brisk's
// process model and has no switch (docs/workers.md).
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';

/** Instances per service, as many as the protected run starts with (its `instances.min`). */
export const UNPROTECTED_INSTANCES = { users: 1, products: 2, orders: 2, payments: 2, web: 1, support: 1 };

/**
 * Writes the unprotected config next to `dir` and returns its path and the services' ports.
 * @param {string} shopConfig packages/shop/brisk.yaml
 * @param {string} dir a work directory
 * @param {() => Promise<number>} freePort a port no one else was given (the run's, which never repeats one)
 */
export async function writeUnprotectedConfig(shopConfig, dir, freePort) {
  const doc = parse(readFileSync(shopConfig, 'utf8'), { merge: true, maxAliasCount: -1 });
  const ports = {};
  for (const [name, count] of Object.entries(UNPROTECTED_INSTANCES)) {
    ports[name] = [];
    for (let i = 0; i < count; i++) ports[name].push(await freePort());
  }
  for (const [name, shared] of Object.entries(doc.upstreams)) {
    // The file shares one mapping between upstreams (a YAML anchor): each gets its own.
    const upstream = (doc.upstreams[name] = structuredClone(shared));
    delete upstream.healthCheck;
    // Absent, outlier detection still runs with its defaults: turned off explicitly.
    upstream.outlierDetection = { consecutive5xx: 0, consecutiveGatewayFailures: 0 };
    upstream.balancer = 'round-robin';
    upstream.retry = { attempts: 0 };
    upstream.hedge = 'off';
    upstream.targets = ports[name].map((port) => ({ url: `http://127.0.0.1:${port}` }));
  }
  delete doc.services;
  for (const rule of doc.alerts?.rules ?? []) delete rule.actions;
  if (doc.alerts?.queue?.dir) doc.alerts.queue.dir = path.join(dir, 'alerts');
  const file = path.join(dir, 'brisk-unprotected.yaml');
  writeFileSync(file, `# Made by the game day (gameday/unprotected.mjs): the shop's config without Brisk's protections.\n${stringify(doc, { aliasDuplicateObjects: false })}`);
  return { file, ports };
}

/**
 * Starts the services as plain processes (what the shop's `services:` section would run,
 * with the same environment), and returns their pids by service and a `stop`.
 * @param {string} shopDir packages/shop/
 * @param {Record<string, number[]>} ports
 * @param {Record<string, string>} env what startStack gives Brisk
 * @param {'ignore' | 'inherit'} output
 */
export async function startPlainServices(shopDir, ports, env, output) {
  const children = [];
  const pids = {};
  const serviceEnv = {
    users: { DATABASE_URL: env.SHOP_USERS_DB, REDIS_URL: env.REDIS_URL },
    products: { DATABASE_URL: env.SHOP_PRODUCTS_DB, REDIS_URL: env.REDIS_URL },
    orders: { DATABASE_URL: env.SHOP_ORDERS_DB, REDIS_URL: env.REDIS_URL },
    payments: { DATABASE_URL: env.SHOP_PAYMENTS_DB, REDIS_URL: env.REDIS_URL },
    web: {},
    support: {
      SUPPORT_AGENT_TOKEN: env.SUPPORT_AGENT_TOKEN,
      SUPPORT_ORDERS_URL: `http://127.0.0.1:${env.SHOP_PORT}/api`,
      SUPPORT_AGENT_WEBHOOK: `http://127.0.0.1:${env.SHOP_IM_PORT}/webhook`,
      SUPPORT_PUBLIC_URL: `http://127.0.0.1:${env.SHOP_PORT}`,
    },
  };
  for (const [name, list] of Object.entries(ports)) {
    pids[name] = [];
    for (const [i, port] of list.entries()) {
      const args = name === 'support' ? ['../support/dist/src/main.js'] : ['dist/src/main.js', name];
      const child = spawn(process.execPath, args, { cwd: shopDir, env: { ...env, ...serviceEnv[name], PORT: String(port), BRISK_INSTANCE: String(i + 1), BRISK_SERVICE: name }, stdio: ['ignore', output, output] });
      children.push(child);
      pids[name].push(child.pid);
    }
  }
  const stop = async () => {
    const gone = children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => c.once('exit', r)));
    for (const c of children) {
      try {
        c.kill('SIGCONT');
        c.kill('SIGTERM');
      } catch {
        // gone already
      }
    }
    const timer = setTimeout(() => children.forEach((c) => c.kill('SIGKILL')), 10_000);
    await Promise.all(gone);
    clearTimeout(timer);
  };
  try {
    await ready(ports);
  } catch (error) {
    await stop();
    throw error;
  }
  return { pids, stop };
}

/** Waits until each service answers its own health check (Brisk, without health checks, will not ask). */
async function ready(ports) {
  const deadline = Date.now() + 60_000;
  for (const [name, list] of Object.entries(ports)) {
    for (const port of list) {
      const probe = name === 'web' ? '/healthz' : '/readyz';
      for (;;) {
        const ok = await fetch(`http://127.0.0.1:${port}${probe}`, { signal: AbortSignal.timeout(1000) }).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) break;
        if (Date.now() > deadline) throw new Error(`the ${name} service on port ${port} was not ready within 60 s`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
}
