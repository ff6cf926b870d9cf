/**
 * undici's dispatchers (`Pool`, `Agent`, `buildConnector`) without the rest of the package.
 * `require('undici')` loads all of it — fetch, web streams, WebSocket, the cache, mocks:
 * 110 modules, most of a start's module loading — where the gateway needs about 30.
 * These are the very classes the package exports (the same files, so the same objects
 * once anything loads the whole package), with the request API (`dispatcher.request()`)
 * added to their prototype as the package's index does. Should a future undici move its
 * files, the whole package is loaded instead.
 */
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

type Lean = Pick<typeof Undici, 'Pool' | 'Agent' | 'buildConnector'>;

function load(): Lean {
  try {
    const dispatcher = require('undici/lib/dispatcher/dispatcher.js') as { prototype: object };
    Object.assign(dispatcher.prototype, require('undici/lib/api/index.js') as object);
    return {
      Pool: require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool,
      Agent: require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent,
      buildConnector: require('undici/lib/core/connect.js') as typeof Undici.buildConnector,
    };
  } catch {
    return require('undici') as typeof Undici;
  }
}

let loaded: Lean | null = null;

/** The dispatchers, required at the first use: a gateway whose upstreams all use the lean transport never loads undici. */
function dispatchers(): Lean {
  return (loaded ??= load());
}

export type Pool = Undici.Pool;
export type Agent = Undici.Agent;

/** A new undici `Pool` (loads undici's dispatchers at the first call). */
export function newUndiciPool(origin: string, options: Undici.Pool.Options): Pool {
  return new (dispatchers().Pool)(origin, options);
}

/** A new undici `Agent` (loads undici's dispatchers at the first call). */
export function newUndiciAgent(options?: Undici.Agent.Options): Agent {
  return new (dispatchers().Agent)(options);
}

/** undici's `buildConnector` (loads undici's dispatchers at the first call). */
export function buildConnector(options: Undici.buildConnector.BuildOptions): Undici.buildConnector.connector {
  return dispatchers().buildConnector(options);
}

/** undici's `request`: the whole package is loaded at the first call (alerting, the CLI, auth calls use it). */
export function request(...args: Parameters<typeof Undici.request>): ReturnType<typeof Undici.request> {
  return (require('undici') as typeof Undici).request(...args);
}

/** undici's `fetch` (the whole package, loaded at the first call: discovery from the Kubernetes API uses it). */
export function fetch(...args: Parameters<typeof Undici.fetch>): ReturnType<typeof Undici.fetch> {
  return (require('undici') as typeof Undici).fetch(...args);
}
