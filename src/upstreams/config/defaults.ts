/**
 * The upstream defaults the normaliser fills in, read from the `default` fields of the
 * upstream schema (so the schema, and the reference generated from it, stays the only
 * place they are written down), already in milliseconds, bytes and ratios.
 */
import { defaultBytes, defaultMs, schemaDefault } from '../../config/schema-kit.js';
import { GRPC_STATUS, type GrpcStatusName } from '../../core/grpc.js';
import { HedgeSchema, UpstreamSchema } from './schema.js';
import type { BalancerKind } from './types.js';

const S = UpstreamSchema;
const get = (...path: string[]) => schemaDefault(S, ...path);
const ms = (...path: string[]) => defaultMs(S, ...path);

/** Every default of an upstream (and of a route's `hedge`), in milliseconds, bytes and ratios. */
export const UPSTREAM_DEFAULTS = {
  balancer: get('balancer') as BalancerKind,
  hostHeader: get('hostHeader') as 'preserve' | 'target',
  http2: get('http2') as 'auto' | 'on' | 'off',
  tlsVerify: get('tls', 'verify') as boolean,
  weight: get('targets', '*', 'weight') as number,
  timeouts: {
    connectMs: ms('timeouts', 'connect'),
    responseMs: ms('timeouts', 'response'),
    idleMs: ms('timeouts', 'idle'),
    totalMs: ms('timeouts', 'total'),
  },
  pool: {
    connections: get('pool', 'connections') as number,
    keepAliveTimeoutMs: ms('pool', 'keepAliveTimeout'),
  },
  slowStartMs: ms('slowStart'),
  drainTimeoutMs: ms('drainTimeout'),
  panicThreshold: (get('panicThreshold') as number) / 100,
  healthCheck: {
    type: get('healthCheck', 'type') as 'http' | 'tcp' | 'grpc',
    path: get('healthCheck', 'path') as string,
    method: get('healthCheck', 'method') as 'GET' | 'HEAD',
    expectedStatus: get('healthCheck', 'expectedStatus') as string,
    intervalMs: ms('healthCheck', 'interval'),
    jitter: (get('healthCheck', 'jitter') as number) / 100,
    timeoutMs: ms('healthCheck', 'timeout'),
    unhealthyThreshold: get('healthCheck', 'unhealthyThreshold') as number,
    healthyThreshold: get('healthCheck', 'healthyThreshold') as number,
    initiallyHealthy: get('healthCheck', 'initiallyHealthy') as boolean,
  },
  outlierDetection: {
    consecutive5xx: get('outlierDetection', 'consecutive5xx') as number,
    consecutiveGatewayFailures: get('outlierDetection', 'consecutiveGatewayFailures') as number,
    failureRateThreshold: get('outlierDetection', 'failureRate', 'threshold') as number,
    failureRateMinRequests: get('outlierDetection', 'failureRate', 'minRequests') as number,
    failureRateWindowMs: ms('outlierDetection', 'failureRate', 'window'),
    baseEjectionMs: ms('outlierDetection', 'baseEjectionTime'),
    maxEjectionMs: ms('outlierDetection', 'maxEjectionTime'),
    maxEjectionRatio: (get('outlierDetection', 'maxEjectionPercent') as number) / 100,
  },
  retry: {
    attempts: get('retry', 'attempts') as number,
    statuses: get('retry', 'statuses') as number[],
    perTryTimeoutMs: ms('retry', 'perTryTimeout'),
    backoffBaseMs: ms('retry', 'backoff', 'base'),
    backoffMaxMs: ms('retry', 'backoff', 'max'),
    budgetRatio: (get('retry', 'budget', 'ratio') as number) / 100,
    budgetMinPerSecond: get('retry', 'budget', 'minPerSecond') as number,
    maxBufferedBody: defaultBytes(S, 'retry', 'maxBufferedBody'),
    unsafeMethods: get('retry', 'unsafeMethods') as boolean,
    grpcStatuses: (get('retry', 'grpcStatuses') as GrpcStatusName[]).map((n) => GRPC_STATUS[n]),
  },
  hash: {
    algorithm: get('hash', 'algorithm') as 'ring' | 'maglev',
    boundedLoad: get('hash', 'boundedLoad') as number,
  },
  sticky: {
    cookie: get('stickySession', 'cookie') as string,
    ttlMs: ms('stickySession', 'ttl'),
  },
  /** `hedge`: its default mode, and the delay floors of the modes that follow the observed latency. */
  hedge: {
    mode: schemaDefault(HedgeSchema) as 'auto' | 'off',
    delay: schemaDefault(HedgeSchema, 'delay') as string,
    p95MinDelayMs: 5,
    autoMinDelayMs: 50,
  },
} as const;
