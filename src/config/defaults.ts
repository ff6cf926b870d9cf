/**
 * Defaults of the gateway's own sections, read from the `default` fields of the schema so
 * that the schema (and the reference generated from it) stays the only place they are
 * written down. An upstream's are in src/upstreams/config/defaults.ts, a middleware's
 * with its schema.
 */
import { defaultBytes, defaultMs, schemaDefault } from './schema-kit.js';
import { ConfigSchema } from './schema.js';
import type { Config } from './types.js';

const get = (...path: string[]) => schemaDefault(ConfigSchema, ...path);
const ms = (...path: string[]) => defaultMs(ConfigSchema, ...path);
const bytes = (...path: string[]) => defaultBytes(ConfigSchema, ...path);

/** Every default the normaliser of the gateway's own sections fills in, already in milliseconds and bytes. */
export const DEFAULTS = {
  limits: {
    maxHeaderSize: bytes('limits', 'maxHeaderSize'),
    maxHeaderCount: get('limits', 'maxHeaderCount') as number,
    headersTimeoutMs: ms('limits', 'headersTimeout'),
    requestTimeoutMs: ms('limits', 'requestTimeout'),
    keepAliveTimeoutMs: ms('limits', 'keepAliveTimeout'),
    maxBodySize: bytes('limits', 'maxBodySize'),
  },
  proxy: {
    deadlineHeader: get('proxy', 'deadlineHeader') as string | false,
    via: get('proxy', 'via') as string | false,
    requestIdHeader: get('proxy', 'requestIdHeader') as string,
    drainTimeoutMs: ms('proxy', 'drainTimeout'),
  },
  logging: {
    level: get('logging', 'level') as Config['logging']['level'],
    format: get('logging', 'format') as Config['logging']['format'],
    accessLog: get('logging', 'accessLog') as boolean,
    maxSize: bytes('logging', 'accessLog', 'rotate', 'maxSize'),
    maxFiles: get('logging', 'accessLog', 'rotate', 'maxFiles') as number,
    daily: get('logging', 'accessLog', 'rotate', 'daily') as boolean,
    sampleSuccesses: get('logging', 'accessLog', 'sample', 'successes') as number,
  },
  tracing: {
    propagate: get('tracing', 'propagate') as boolean,
    sampleRatio: get('tracing', 'sampleRatio') as number,
    serviceName: get('tracing', 'serviceName') as string,
    timeoutMs: ms('tracing', 'otlp', 'timeout'),
    batchSize: get('tracing', 'otlp', 'batchSize') as number,
    intervalMs: ms('tracing', 'otlp', 'interval'),
    maxQueue: get('tracing', 'otlp', 'maxQueue') as number,
  },
  h2c: get('listen', '*', 'h2c') as boolean,
  tls: {
    http2: get('listen', '*', 'tls', 'http2') as boolean,
    minVersion: get('listen', '*', 'tls', 'minVersion') as 'TLSv1.2' | 'TLSv1.3',
  },
} as const;
