#!/usr/bin/env node
/**
 * One shop service as a process: `node dist/src/main.js users|products|orders|payments|web`.
 * This is what Brisk's `services:` section runs (brisk.yaml); the settings come from the
 * environment: `PORT`, `DATABASE_URL` (else an embedded PGlite of its own), `REDIS_URL`,
 * `SHOP_JWT_SECRET` (users), `SHOP_INTERNAL_URL` and `SHOP_INTERNAL_KEY` (orders).
 */
import { startOrders } from './orders/app.js';
import { startPayments } from './payments/app.js';
import { startProducts } from './products/app.js';
import { startUsers } from './users/app.js';
import { startWeb } from './web/app.js';

const SERVICES = { users: startUsers, products: startProducts, orders: startOrders, payments: startPayments, web: () => startWeb() } as const;

const name = process.argv[2] ?? '';
if (!(name in SERVICES)) {
  process.stderr.write(`usage: node dist/src/main.js ${Object.keys(SERVICES).join('|')} (got "${name}")\n`);
  process.exit(2);
}
try {
  await SERVICES[name as keyof typeof SERVICES]();
} catch (error) {
  process.stderr.write(`shop ${name}: could not start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
