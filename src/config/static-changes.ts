/**
 * Static configuration (Traefik's word): what is bound when the process starts and a
 * reload cannot change — the listeners' sockets and their parser limits, the admin API's
 * socket, the log format, whether metrics are recorded. Everything else (routes,
 * upstreams, middlewares, `proxy`, tracing, alerts, the access log, the log level,
 * `limits.maxBodySize`, which only supplies routes' defaults) is reloaded live.
 */
import type { Config } from './types.js';

/** One static key: its path as written in the file, and how to read it from a config. */
const STATIC_KEYS: readonly (readonly [path: string, read: (c: Config) => unknown])[] = [
  ['listen', (c) => c.listen],
  ['admin', (c) => c.admin ?? null],
  ['limits.maxHeaderSize', (c) => c.limits.maxHeaderSize],
  // Node caps the parsed header count when the listener starts (src/listeners/server.ts).
  ['limits.maxHeaderCount', (c) => c.limits.maxHeaderCount],
  ['limits.headersTimeout', (c) => c.limits.headersTimeoutMs],
  ['limits.requestTimeout', (c) => c.limits.requestTimeoutMs],
  ['limits.keepAliveTimeout', (c) => c.limits.keepAliveTimeoutMs],
  ['logging.format', (c) => c.logging.format],
  ['metrics.enabled', (c) => c.metrics?.enabled ?? true],
  // The primary forks the workers once; `brisk restart` replaces them, but not their number.
  ['workers', (c) => c.workers ?? 1],
  // The store is opened and watched once, at start (src/providers/config-store/).
  ['configStore', (c) => c.configStore ?? null],
];

/**
 * The static keys whose value differs between the config the process is running with
 * (`bound`, the one it started with) and a newly loaded one: what a reload cannot apply
 * and needs a restart. Paths as written in the file, in a fixed order; [] when none.
 *
 * @example
 * staticChanges(started, reloaded) // ['listen', 'limits.headersTimeout']
 */
export function staticChanges(bound: Config, next: Config): string[] {
  const changed: string[] = [];
  for (const [path, read] of STATIC_KEYS) {
    if (JSON.stringify(read(bound)) !== JSON.stringify(read(next))) changed.push(path);
  }
  return changed;
}
