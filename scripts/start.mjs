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

// `timeout 60 npm start`, a closed terminal, a killed npm: npm exits without passing the
// signal on, and the shop would run on as an orphan holding its ports. When the parent
// goes away, the shop stops as on Ctrl-C: a SIGHUP ("the parent hung up") takes the same
// graceful path. Not a SIGTERM: when npm did pass one on, a second SIGTERM means "kill now".
const parent = process.ppid;
const orphanWatch = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(orphanWatch);
  process.kill(process.pid, 'SIGHUP');
}, 500).unref();

const { runShop } = await import('../packages/shop/dist/src/run/start.js');
process.exit(await runShop(process.argv.slice(2)));
