#!/usr/bin/env node
// The game day (issue 16): the whole shop on PostgreSQL (primary + synchronous replica) and
// Redis, behind Brisk with two workers, under an open-loop e-commerce mix (browse, search,
// cart, checkout with an Idempotency-Key and client retries, order status, support chat over
// WebSocket), with one fault after the other: the PostgreSQL primary killed and the replica
// promoted, a payments instance killed, an orders instance frozen, Redis down, the payment
// provider timing out, a 3× spike, a Brisk worker killed. Then the books, read from every
// database. Then (full run) the same with Brisk's protections off, side by side.
// See docs/gameday.md.
//
//   npm run gameday [-- --quick] [-- --json] [-- --markdown FILE] [-- --protected-only | --unprotected-only] [-- --keep]
//
// Loopback only, bounded in time; the processes it signals are the ones the shop's stack
// started (Brisk reports its instances' and workers' pids) or that it started itself.
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { alive, parseProofArgs, writeMarkdownSection } from '../proofs/proof-kit.mjs';
import { FAULTS, faultSettings } from './faults.mjs';
import { booksTable, compareTable, recovery, runTable, summarize } from './report.mjs';
import { CHECKOUT_TIMEOUT_MS, mixRates, TIMEOUT_MS, Traffic } from './traffic.mjs';
import { startPlainServices, writeUnprotectedConfig } from './unprotected.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const HELP = `Usage: npm run gameday -- [--quick] [--json] [--markdown FILE] [--protected-only | --unprotected-only] [--keep]

  --quick           the short form CI runs (npm test): shorter windows, protections on only
  --json            print the results as JSON instead of the tables
  --protected-only  skip the second run with Brisk's protections off
  --unprotected-only  only the run with Brisk's protections off (with --quick too)
  --markdown FILE   write the tables between the proof:gameday markers of FILE (docs/gameday.md)
  --keep            keep the work directory (Brisk's and the services' output, the configs)`;

/** Shoppers signed up before the traffic (sign-up is rate limited to 20 a minute per address). */
const SHOPPERS = 12;

function settings(quick) {
  return { quick, warmupMs: quick ? 8000 : 20_000, observeMs: quick ? 8000 : 25_000, rates: mixRates(1), ...faultSettings(quick) };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function json(method, url, body, headers = {}) {
  const res = await fetch(url, { method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url} answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

async function signUp(url, run) {
  const shoppers = [];
  for (let i = 0; i < SHOPPERS; i++) {
    const r = await json('POST', `${url}/api/users`, { email: `gameday-${run}-${i}@example.com`, name: `Shopper ${i}`, password: 'correct horse battery' });
    shoppers.push({ id: String(r.user.id), token: r.token });
  }
  return shoppers;
}

/** One run: the stack, the traffic, the faults, the books. */
async function runOnce(protectedRun, s, dir, log) {
  const { startStack, reconcile } = await import('@brisk/shop');
  const { freePort: anyFreePort } = await import('@brisk/service/local');
  // The system may hand the same free port out twice in a row: never give one twice.
  const given = new Set();
  const freePort = async () => {
    for (;;) {
      const port = await anyFreePort();
      if (!given.has(port)) return given.add(port), port;
    }
  };
  const label = protectedRun ? 'protections on' : 'protections off';
  const logFd = openSync(path.join(dir, `${protectedRun ? 'on' : 'off'}.log`), 'a');
  let plain;
  const options = { real: true, port: await freePort(), adminPort: await freePort(), imPort: await freePort(), output: logFd, print: () => {}, workers: 2, readyTimeoutMs: 120_000, env: { SHOP_LOG_LEVEL: 'warn' } };
  if (!protectedRun) {
    const { file, ports } = await writeUnprotectedConfig(path.join(ROOT, 'packages/shop/brisk.yaml'), dir, freePort);
    options.config = file;
    options.startServices = async (env) => (plain = await startPlainServices(path.join(ROOT, 'packages/shop/'), ports, env, logFd));
  }
  log(`${label}: starting the shop (PostgreSQL primary + replica, Redis, Brisk with 2 workers)…`);
  const startedAt = Date.now();
  const shop = await startStack(options);
  log(`${label}: shop ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s at ${shop.url}`);
  const view = {
    url: shop.url,
    internalKey: shop.internalKey,
    data: shop.data,
    instances: async (service) => {
      if (!protectedRun) return plain.pids[service];
      // A ready one if there is one within 15 s (after a failover every instance may still
      // be failing its readiness check), else any that runs.
      const deadline = Date.now() + 15_000;
      for (;;) {
        const snap = await json('GET', `${shop.adminUrl}/api/services/${service}`);
        const ready = snap.instances.filter((i) => i.state === 'ready' && i.pid !== null).map((i) => i.pid);
        if (ready.length > 0) return ready;
        if (Date.now() > deadline) return snap.instances.filter((i) => i.pid !== null && i.state !== 'stopping').map((i) => i.pid);
        await sleep(500);
      }
    },
    /** Ready instances by service (protections on: what the supervisor made of the fault). */
    census: async () => {
      if (!protectedRun) return Object.fromEntries(Object.entries(plain.pids).map(([name, pids]) => [name, pids.filter(alive).length]));
      const all = await json('GET', `${shop.adminUrl}/api/services`).catch(() => ({ services: [] }));
      return Object.fromEntries(all.services.map((sv) => [sv.name, sv.instances.filter((i) => i.state === 'ready').length]));
    },
    workers: async () => (await json('GET', `${shop.adminUrl}/api/workers`)).workers.filter((w) => w.pid !== null && w.state === 'ready').map((w) => w.pid),
  };
  const result = { label, protected: protectedRun, windows: [], total: null, books: null, acknowledged: 0, notes: [], loadLagMs: 0 };
  let traffic;
  try {
    const shoppers = await signUp(shop.url, `${Date.now().toString(36)}${protectedRun ? 'on' : 'off'}`);
    traffic = new Traffic(shop.url, shoppers, s.rates).start();
    let start = traffic.now();
    await sleep(s.warmupMs);
    result.windows.push({ id: 'warm-up', name: 'warm-up (no fault)', start, faultEnd: start, end: traffic.now(), instances: await view.census() });
    for (const fault of FAULTS) {
      start = traffic.now();
      log(`${label}: ${fault.name}…`);
      let note = '';
      try {
        await fault.run(view, traffic, s, (m) => (note = m));
      } catch (error) {
        note = `the fault could not be injected: ${error.message}`;
      }
      const faultEnd = traffic.now();
      await sleep(s.observeMs);
      const w = { id: fault.id, name: fault.name, note, start, faultEnd, end: traffic.now(), instances: await view.census() };
      result.windows.push(w);
      log(`  ${note}; ready instances then: ${JSON.stringify(w.instances)}`);
    }
    log(`${label}: traffic stopped; waiting for the visits in flight (checkouts poll up to ~1 min)…`);
    await traffic.stop();
    for (const w of result.windows) {
      w.summary = summarize(traffic, w.start, w.end);
      Object.assign(w, recovery(traffic, w));
      log(`  ${w.name}: ${w.summary.errors}/${w.summary.requests} errors, checkouts ${w.summary.checkouts.confirmed}/${w.summary.checkouts.started}${w.id === 'warm-up' ? '' : `, time to recover ${w.recoveryMs === null ? '— (no errors)' : `${w.recoveryMs} ms (${w.afterFaultMs} ms after the fault ended)${w.recovered ? '' : ' (NOT recovered)'}`}`}; ${JSON.stringify(w.summary.errorKinds)}`);
    }
    result.total = summarize(traffic, 0, Infinity);
    result.loadLagMs = Math.round(traffic.maxLagMs);
    const acknowledged = [...traffic.acknowledged].map(([orderId, status]) => ({ orderId, status }));
    result.acknowledged = acknowledged.length;
    log(`${label}: reconciling the books (products, orders, payments databases)…`);
    result.books = await reconcile(shop.data.urls, { acknowledged, settleMs: 60_000 });
    log(`${label}: books ${JSON.stringify({ ...result.books, problems: result.books.problems.slice(0, 5) })}`);
  } finally {
    if (traffic?.timer) await traffic.stop();
    await shop.stop();
    closeSync(logFd);
  }
  return result;
}

async function main() {
  const o = parseProofArgs(process.argv.slice(2), HELP, ['protected-only', 'unprotected-only']);
  const s = settings(o.quick);
  const base = path.join(ROOT, '.proofs');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(path.join(base, 'gameday-'));
  const log = (m) => (o.json ? process.stderr : process.stdout).write(`${m}\n`);
  const started = Date.now();
  const result = {
    settings: { ...s, clientTimeoutMs: TIMEOUT_MS, checkoutTimeoutMs: CHECKOUT_TIMEOUT_MS },
    machine: { cpus: os.cpus().length, node: process.version, platform: `${os.platform()} ${os.release()}`, loadavg: os.loadavg().map((x) => Math.round(x * 10) / 10) },
    on: null,
    off: null,
  };
  try {
    if (!o['unprotected-only']) result.on = await runOnce(true, s, dir, log);
    if (o['unprotected-only'] || (!o.quick && !o['protected-only'])) result.off = await runOnce(false, s, dir, log);
  } finally {
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
    else log(`work directory kept: ${dir}`);
  }
  result.durationS = Math.round((Date.now() - started) / 1000);
  // The books must be clean in every run: the shop's own guarantees do not depend on Brisk.
  result.booksClean = [result.on, result.off].every((r) => r === null || (r.books.acknowledgedMissing === 0 && r.books.doubleCharges === 0 && r.books.oversold === 0 && r.books.nonFinal === 0));
  const text = [];
  if (result.on !== null) text.push(`### Protections on (${o.quick ? 'quick' : 'full'} run)`, '', runTable(result.on));
  if (result.off !== null) text.push(...(text.length > 0 ? [''] : []), `### Protections off (same shop, same mix)`, '', runTable(result.off));
  if (result.on !== null && result.off !== null) text.push('', '### Side by side', '', compareTable(result.on, result.off));
  text.push('', '### The books', '', booksTable([result.on, result.off].filter((r) => r !== null)));
  const footer = `Open loop ${Object.entries(s.rates).map(([k, v]) => `${k} ${v}/s`).join(', ')}; client timeout ${TIMEOUT_MS / 1000} s (checkout ${CHECKOUT_TIMEOUT_MS / 1000} s); the generator's longest lag behind its schedule ${[result.on, result.off].filter((r) => r !== null).map((r) => `${r.loadLagMs} ms`).join(' / ')}. Machine: ${result.machine.cpus} CPUs, Node ${result.machine.node}; ${result.durationS} s.`;
  if (o.markdown !== null) writeMarkdownSection(readFileSync, writeFileSync, o.markdown, 'gameday', `${text.join('\n')}\n\n${footer}`);
  if (o.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(`\n${text.join('\n')}\n\n${footer}\n${result.booksClean ? 'the books are clean' : 'THE BOOKS ARE NOT CLEAN'}\n`);
  process.exitCode = result.booksClean ? 0 : 1;
}

main().catch((err) => {
  process.stderr.write(`gameday: ${err.stack ?? err}\n`);
  process.exitCode = 1;
});
