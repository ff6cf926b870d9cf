#!/usr/bin/env node
/**
 * `npm start`: install and build if needed, then run the demo shop
 * (examples/demo/run.mjs): three products instances, a users service and Brisk in
 * front of them on 127.0.0.1:8080, admin API on 127.0.0.1:9901.
 *
 *   npm start                       # the demo
 *   npm start -- --backends-only    # only the demo services (run the gateway yourself)
 */
import { ensureReady } from './ensure.mjs';

const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--backends-only');
if (unknown.length > 0) {
  process.stderr.write(`[brisk] unknown argument ${unknown[0]}; usage: npm start [-- --backends-only]\n`);
  process.exit(2);
}

ensureReady();

const { runDemo } = await import('../examples/demo/run.mjs');
process.exit(await runDemo({ backendsOnly: args.includes('--backends-only') }));
