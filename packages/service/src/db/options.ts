/**
 * Database options: their defaults, and the multi-host connection URL that node-postgres
 * does not parse (brianc/node-postgres#1470): `postgres://user:pass@h1:5432,h2:5433/db`,
 * the same form libpq accepts.
 */
import { ServiceError } from '../errors.js';
import type { Logger, Registry } from '../observability.js';
import type { EmbeddedOptions } from './embedded.js';

export interface DatabaseOptions {
  /** Label on logs and metrics (`db="…"`), default `main`. */
  name?: string;
  /**
   * `postgres://user:password@host1:5432,host2:5432/dbname`: every host of the cluster,
   * primary and replicas in any order (the primary is found, not configured). Default:
   * `$DATABASE_URL`; with neither `url` nor `hosts`, the embedded database is started.
   */
  url?: string;
  /** The hosts as `host:port` (instead of `url`). */
  hosts?: string[];
  user?: string;
  password?: string;
  database?: string;
  /** Force the embedded database (PGlite on a loopback socket), with its options. */
  embedded?: boolean | EmbeddedOptions;
  /** Connections per host (default 10). */
  poolSize?: number;
  /** Replicas further behind than this do not serve reads without a token (default 1000). */
  maxLagMs?: number;
  /** Probe interval while a primary is known (default 250). */
  probeIntervalMs?: number;
  /** Probe interval while no primary is known, to find the new one fast (default 100). */
  discoveryIntervalMs?: number;
  /** Connection and probe timeout (default 2000). */
  connectTimeoutMs?: number;
  /** Statement timeout outside a request, and the upper bound inside one (0 = none, the default). */
  statementTimeoutMs?: number;
  /** How long idempotent work is retried outside a request (inside, the request deadline rules). Default 10000. */
  retryBudgetMs?: number;
  /**
   * A read without a token when no replica is within `maxLagMs` and no primary is
   * reachable: `freshest` serves it from the freshest reachable replica (the default:
   * during a failover that replica holds everything anyone can read), `fail` answers
   * `BRISK_SVC_DB_UNAVAILABLE`.
   */
  whenNoFreshHost?: 'freshest' | 'fail';
  logger?: Logger;
  registry?: Registry;
}

export interface HostAddress {
  host: string;
  port: number;
}

export interface ParsedUrl {
  hosts: HostAddress[];
  user: string | undefined;
  password: string | undefined;
  database: string | undefined;
}

function invalid(message: string): ServiceError {
  return new ServiceError('BRISK_SVC_DB_CONFIG_INVALID', message);
}

/** Parses `host:port`, `host` (port 5432) or `[v6]:port`. */
export function parseHostPort(text: string, where: string): HostAddress {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(text.trim());
  if (match === null) throw invalid(`${where}: "${text}" is not host:port (example: 127.0.0.1:5432)`);
  const port = match[3] === undefined ? 5432 : Number(match[3]);
  if (port < 1 || port > 65535) throw invalid(`${where}: port ${port} of "${text}" is outside 1-65535`);
  return { host: (match[1] ?? match[2])!, port };
}

/** Parses a (multi-host) PostgreSQL URL. */
export function parseDatabaseUrl(url: string): ParsedUrl {
  const match = /^postgres(?:ql)?:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]*)(?:\/([^?#]*))?(?:\?[^#]*)?$/.exec(url.trim());
  if (match === null) throw invalid(`database url "${redactUrl(url)}" is not postgres://user:password@host1:port1,host2:port2/database`);
  const hostsText = match[3] ?? '';
  if (hostsText === '') throw invalid(`database url "${redactUrl(url)}" names no host; add one or more host:port after the @`);
  const hosts = hostsText.split(',').map((h) => parseHostPort(h, `database url "${redactUrl(url)}"`));
  const decode = (s: string | undefined) => (s === undefined || s === '' ? undefined : decodeURIComponent(s));
  return { hosts, user: decode(match[1]), password: decode(match[2]), database: decode(match[4]) };
}

/** The URL with its password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)[^@/]*@/i, '$1***@');
}

export interface ResolvedOptions {
  name: string;
  poolSize: number;
  maxLagMs: number;
  probeIntervalMs: number;
  discoveryIntervalMs: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  retryBudgetMs: number;
  whenNoFreshHost: 'freshest' | 'fail';
}

function nonNegative(value: number | undefined, fallback: number, key: string, min = 0): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < min) throw invalid(`database option ${key} is ${value}; it must be a number of milliseconds ≥ ${min}`);
  return value;
}

export function resolveOptions(options: DatabaseOptions): ResolvedOptions {
  const poolSize = options.poolSize ?? 10;
  if (!Number.isInteger(poolSize) || poolSize < 1) throw invalid(`database option poolSize is ${poolSize}; it must be a whole number ≥ 1`);
  if (options.whenNoFreshHost !== undefined && options.whenNoFreshHost !== 'freshest' && options.whenNoFreshHost !== 'fail') {
    throw invalid(`database option whenNoFreshHost is "${String(options.whenNoFreshHost)}"; use "freshest" or "fail"`);
  }
  return {
    name: options.name ?? 'main',
    poolSize,
    maxLagMs: nonNegative(options.maxLagMs, 1000, 'maxLagMs'),
    probeIntervalMs: nonNegative(options.probeIntervalMs, 250, 'probeIntervalMs', 10),
    discoveryIntervalMs: nonNegative(options.discoveryIntervalMs, 100, 'discoveryIntervalMs', 10),
    connectTimeoutMs: nonNegative(options.connectTimeoutMs, 2000, 'connectTimeoutMs', 10),
    statementTimeoutMs: nonNegative(options.statementTimeoutMs, 0, 'statementTimeoutMs'),
    retryBudgetMs: nonNegative(options.retryBudgetMs, 10_000, 'retryBudgetMs'),
    whenNoFreshHost: options.whenNoFreshHost ?? 'freshest',
  };
}
