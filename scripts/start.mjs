#!/usr/bin/env node
/**
 * `npm start`: install and build if needed, then run the shop (packages/shop): Brisk on
 * 127.0.0.1:8080 (storefront and API) and :9901 (dashboard), running and supervising the
 * users, products, orders, payments and storefront services, with the demo IM group on
 * :7401 for alerts.
 *
 *   npm start                 # embedded databases (PGlite) and memory caches: nothing to install
 *   npm start -- --real       # PostgreSQL primary + streaming replica and Redis, started locally
 */
import { ensureReady } from './ensure.mjs';

ensureReady();

const { runShop } = await import('../packages/shop/dist/src/run/start.js');
process.exit(await runShop(process.argv.slice(2)));
