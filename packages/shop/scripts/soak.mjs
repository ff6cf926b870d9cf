#!/usr/bin/env node
/**
 * A half-minute smoke of the shop under faults (not a test, not the game day): ten
 * shoppers check out in a loop through Brisk, each retrying with its Idempotency-Key,
 * while the payment provider times out and declines, a payments instance and an orders
 * instance are killed (-9) and another orders instance is frozen (SIGSTOP) for 8 s. Then
 * the books are read from every database. Build first (npm run build).
 *
 *   node packages/shop/scripts/soak.mjs            # embedded databases
 *   node packages/shop/scripts/soak.mjs --real     # PostgreSQL primary + replica, Redis
 */
import { startStack, reconcile } from '../dist/src/index.js';
const real = process.argv.includes('--real');
const s = await startStack({ real, port: 18084, adminPort: 19905, imPort: 17405, output: process.env.SOAK_OUTPUT ?? 'ignore', print: () => {}, env: { SHOP_LOG_LEVEL: process.env.SOAK_LOG_LEVEL ?? 'warn' } });
const U = s.url;
const log = (...a) => console.log(new Date().toISOString().slice(11, 19), ...a);
const post = (path, body, headers = {}) => fetch(U + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal: AbortSignal.timeout(20000) });
const tokens = [];
for (let i = 0; i < 10; i++) {
  const r = await post('/api/users', { email: `soak${i}@shop.test`, name: `S${i}`, password: 'password-' + i });
  tokens.push((await r.json()).token);
}
const acknowledged = [];
const stats = { ok: 0, declined: 0, oos: 0, accepted: 0, failed: 0, errors: {} };
let running = true;
async function shopper(i) {
  let n = 0;
  while (running) {
    const key = `soak-${i}-${n++}`;
    const items = [{ productId: 1 + Math.floor(Math.random() * 18), qty: 1 + Math.floor(Math.random() * 2) }];
    for (let attempt = 0; attempt < 8; attempt++) {
      let r, body;
      try {
        r = await post('/api/checkout', { items }, { authorization: `Bearer ${tokens[i]}`, 'idempotency-key': key });
        body = await r.json();
      } catch (e) { stats.errors['net'] = (stats.errors['net'] ?? 0) + 1; await new Promise((x) => setTimeout(x, 300)); continue; }
      if (r.status === 201) { stats.ok++; acknowledged.push({ orderId: body.orderId, status: 'confirmed' }); break; }
      if (r.status === 202) { stats.accepted++; if (body.orderId) acknowledged.push({ orderId: body.orderId }); break; }
      if (r.status === 402) { stats.declined++; break; }
      if (r.status === 409 && body.error?.code === 'SHOP_OUT_OF_STOCK') { stats.oos++; break; }
      if (r.status === 502) { stats.failed++; if (body.error?.orderId) acknowledged.push({ orderId: body.error.orderId, status: 'cancelled' }); break; }
      const code = `${r.status} ${body.error?.code}`;
      stats.errors[code] = (stats.errors[code] ?? 0) + 1;
      await new Promise((x) => setTimeout(x, 300));
    }
  }
}
const provider = (cfg) => fetch(U + '/internal/payments/provider', { method: 'PUT', headers: { 'x-api-key': s.internalKey, 'content-type': 'application/json' }, body: JSON.stringify(cfg) });
/** A ready instance's pid (waits up to 15 s for one; logs the states it saw). */
const pidOf = async (svc) => {
  for (let i = 0; i < 60; i++) {
    const { instances } = await (await fetch(`${s.adminUrl}/api/services/${svc}`)).json();
    const ready = instances.find((x) => x.state === 'ready');
    if (ready) return ready.pid;
    if (i % 8 === 0) log(`${svc}: no ready instance yet (${instances.map((x) => `#${x.id} ${x.state}`).join(', ')})`);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${svc} had no ready instance for 15 s`);
};
const shoppers = Array.from({ length: 10 }, (_, i) => shopper(i));
const faults = (async () => {
  try {
  await new Promise((r) => setTimeout(r, 4000));
  log('provider timeoutRate 0.3, declineRate 0.1'); await provider({ timeoutRate: 0.3, declineRate: 0.1, timeoutMs: 8000 });
  await new Promise((r) => setTimeout(r, 6000));
  await provider({ timeoutRate: 0, declineRate: 0.05 });
  let pid = await pidOf('payments'); log('kill -9 payments', pid); process.kill(pid, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 4000));
  pid = await pidOf('orders'); log('kill -9 orders', pid); process.kill(pid, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 4000));
  pid = await pidOf('orders'); log('SIGSTOP orders', pid); process.kill(pid, 'SIGSTOP');
  await new Promise((r) => setTimeout(r, 8000));
  try { process.kill(pid, 'SIGCONT'); } catch {}
  log('SIGCONT');
  await new Promise((r) => setTimeout(r, 4000));
  } catch (error) {
    log('fault injection failed:', error.message);
  }
})();
await faults;
running = false;
await Promise.all(shoppers);
log('stats', JSON.stringify(stats));
const books = await reconcile(s.data.urls, { acknowledged, settleMs: 40000 });
log('books', JSON.stringify({ ...books, problems: books.problems.slice(0, 15) }));
await s.stop();
