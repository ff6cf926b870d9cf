/**
 * Defaults, read from the `default` fields of the schema so that the schema (and the
 * reference generated from it) stays the only place they are written down.
 */
import { ConfigSchema } from './schema.js';
import type { BalancerKind, Config } from './types.js';
import { durationMs, sizeBytes } from './units.js';

/**
 * The `default` of the schema property at `path` (`*` steps into a record's values or a
 * list's items). Throws when there is none: that is a mistake in this program, caught
 * by every test that loads a configuration.
 */
export function schemaDefault(...path: string[]): unknown {
  let node: unknown = ConfigSchema;
  for (const step of path) node = child(node, step);
  const value = (node as { default?: unknown } | undefined)?.default;
  if (value === undefined) throw new Error(`the schema has no default for ${path.join('.')}`);
  return value;
}

function child(node: unknown, step: string): unknown {
  if (node === null || typeof node !== 'object') return undefined;
  const schema = node as Record<string, unknown>;
  if (step === '*') {
    if (schema['items'] !== undefined) return schema['items'];
    const patterns = schema['patternProperties'] as Record<string, unknown> | undefined;
    return patterns === undefined ? undefined : Object.values(patterns)[0];
  }
  const found = (schema['properties'] as Record<string, unknown> | undefined)?.[step];
  if (found !== undefined || !Array.isArray(schema['anyOf'])) return found;
  // A union (`accessLog: true | {…}`): the first member that has the property.
  for (const member of schema['anyOf'] as unknown[]) {
    const inMember = child(member, step);
    if (inMember !== undefined) return inMember;
  }
  return undefined;
}

function ms(...path: string[]): number {
  const value = durationMs(schemaDefault(...path) as string | number);
  if (value === undefined) throw new Error(`bad duration default for ${path.join('.')}`);
  return value;
}

function bytes(...path: string[]): number {
  const value = sizeBytes(schemaDefault(...path) as string | number);
  if (value === undefined) throw new Error(`bad size default for ${path.join('.')}`);
  return value;
}

/** Every default the normaliser fills in, already in milliseconds and bytes. */
export const DEFAULTS = {
  limits: {
    maxHeaderSize: bytes('limits', 'maxHeaderSize'),
    maxHeaderCount: schemaDefault('limits', 'maxHeaderCount') as number,
    headersTimeoutMs: ms('limits', 'headersTimeout'),
    requestTimeoutMs: ms('limits', 'requestTimeout'),
    keepAliveTimeoutMs: ms('limits', 'keepAliveTimeout'),
    maxBodySize: bytes('limits', 'maxBodySize'),
  },
  proxy: {
    deadlineHeader: schemaDefault('proxy', 'deadlineHeader') as string | false,
    via: schemaDefault('proxy', 'via') as string | false,
    requestIdHeader: schemaDefault('proxy', 'requestIdHeader') as string,
    drainTimeoutMs: ms('proxy', 'drainTimeout'),
  },
  logging: {
    level: schemaDefault('logging', 'level') as Config['logging']['level'],
    format: schemaDefault('logging', 'format') as Config['logging']['format'],
    accessLog: schemaDefault('logging', 'accessLog') as boolean,
    maxSize: bytes('logging', 'accessLog', 'rotate', 'maxSize'),
    maxFiles: schemaDefault('logging', 'accessLog', 'rotate', 'maxFiles') as number,
    daily: schemaDefault('logging', 'accessLog', 'rotate', 'daily') as boolean,
    sampleSuccesses: schemaDefault('logging', 'accessLog', 'sample', 'successes') as number,
  },
  tracing: {
    propagate: schemaDefault('tracing', 'propagate') as boolean,
    sampleRatio: schemaDefault('tracing', 'sampleRatio') as number,
    serviceName: schemaDefault('tracing', 'serviceName') as string,
    timeoutMs: ms('tracing', 'otlp', 'timeout'),
    batchSize: schemaDefault('tracing', 'otlp', 'batchSize') as number,
    intervalMs: ms('tracing', 'otlp', 'interval'),
    maxQueue: schemaDefault('tracing', 'otlp', 'maxQueue') as number,
  },
  upstream: {
    balancer: schemaDefault('upstreams', '*', 'balancer') as BalancerKind,
    hostHeader: schemaDefault('upstreams', '*', 'hostHeader') as 'preserve' | 'target',
    weight: schemaDefault('upstreams', '*', 'targets', '*', 'weight') as number,
    timeouts: {
      connectMs: ms('upstreams', '*', 'timeouts', 'connect'),
      responseMs: ms('upstreams', '*', 'timeouts', 'response'),
      idleMs: ms('upstreams', '*', 'timeouts', 'idle'),
      totalMs: ms('upstreams', '*', 'timeouts', 'total'),
    },
    pool: {
      connections: schemaDefault('upstreams', '*', 'pool', 'connections') as number,
      keepAliveTimeoutMs: ms('upstreams', '*', 'pool', 'keepAliveTimeout'),
    },
    slowStartMs: ms('upstreams', '*', 'slowStart'),
    drainTimeoutMs: ms('upstreams', '*', 'drainTimeout'),
    panicThreshold: (schemaDefault('upstreams', '*', 'panicThreshold') as number) / 100,
    healthCheck: {
      type: schemaDefault('upstreams', '*', 'healthCheck', 'type') as 'http' | 'tcp',
      path: schemaDefault('upstreams', '*', 'healthCheck', 'path') as string,
      method: schemaDefault('upstreams', '*', 'healthCheck', 'method') as 'GET' | 'HEAD',
      expectedStatus: schemaDefault('upstreams', '*', 'healthCheck', 'expectedStatus') as string,
      intervalMs: ms('upstreams', '*', 'healthCheck', 'interval'),
      jitter: (schemaDefault('upstreams', '*', 'healthCheck', 'jitter') as number) / 100,
      timeoutMs: ms('upstreams', '*', 'healthCheck', 'timeout'),
      unhealthyThreshold: schemaDefault('upstreams', '*', 'healthCheck', 'unhealthyThreshold') as number,
      healthyThreshold: schemaDefault('upstreams', '*', 'healthCheck', 'healthyThreshold') as number,
      initiallyHealthy: schemaDefault('upstreams', '*', 'healthCheck', 'initiallyHealthy') as boolean,
    },
    outlierDetection: {
      consecutive5xx: schemaDefault('upstreams', '*', 'outlierDetection', 'consecutive5xx') as number,
      consecutiveGatewayFailures: schemaDefault('upstreams', '*', 'outlierDetection', 'consecutiveGatewayFailures') as number,
      failureRateThreshold: schemaDefault('upstreams', '*', 'outlierDetection', 'failureRate', 'threshold') as number,
      failureRateMinRequests: schemaDefault('upstreams', '*', 'outlierDetection', 'failureRate', 'minRequests') as number,
      failureRateWindowMs: ms('upstreams', '*', 'outlierDetection', 'failureRate', 'window'),
      baseEjectionMs: ms('upstreams', '*', 'outlierDetection', 'baseEjectionTime'),
      maxEjectionMs: ms('upstreams', '*', 'outlierDetection', 'maxEjectionTime'),
      maxEjectionRatio: (schemaDefault('upstreams', '*', 'outlierDetection', 'maxEjectionPercent') as number) / 100,
    },
    retry: {
      attempts: schemaDefault('upstreams', '*', 'retry', 'attempts') as number,
      statuses: schemaDefault('upstreams', '*', 'retry', 'statuses') as number[],
      perTryTimeoutMs: ms('upstreams', '*', 'retry', 'perTryTimeout'),
      backoffBaseMs: ms('upstreams', '*', 'retry', 'backoff', 'base'),
      backoffMaxMs: ms('upstreams', '*', 'retry', 'backoff', 'max'),
      budgetRatio: (schemaDefault('upstreams', '*', 'retry', 'budget', 'ratio') as number) / 100,
      budgetMinPerSecond: schemaDefault('upstreams', '*', 'retry', 'budget', 'minPerSecond') as number,
      maxBufferedBody: bytes('upstreams', '*', 'retry', 'maxBufferedBody'),
      unsafeMethods: schemaDefault('upstreams', '*', 'retry', 'unsafeMethods') as boolean,
    },
    hash: {
      algorithm: schemaDefault('upstreams', '*', 'hash', 'algorithm') as 'ring' | 'maglev',
      boundedLoad: schemaDefault('upstreams', '*', 'hash', 'boundedLoad') as number,
    },
    sticky: {
      cookie: schemaDefault('upstreams', '*', 'stickySession', 'cookie') as string,
      ttlMs: ms('upstreams', '*', 'stickySession', 'ttl'),
    },
    hedge: {
      delay: schemaDefault('routes', '*', 'hedge', 'delay') as string,
      minDelayMs: ms('routes', '*', 'hedge', 'minDelay'),
    },
  },
  tls: {
    http2: schemaDefault('listen', '*', 'tls', 'http2') as boolean,
    minVersion: schemaDefault('listen', '*', 'tls', 'minVersion') as 'TLSv1.2' | 'TLSv1.3',
  },
} as const;
