/**
 * Checks and normalises `services` (schema-valid) into {@link ServiceConfig}s: durations in
 * milliseconds, sizes in bytes, paths resolved against the config file, defaults read
 * from the schema. The checks that need other sections (the upstream exists and has a
 * health check, one service per upstream) are here too, given the normalised upstreams.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { didYouMean } from '../../config/did-you-mean.js';
import { putOwn, type ConfigCheck } from '../../config/normalize-kit.js';
import type { PathProblem, PathSegment } from '../../config/positions.js';
import { normalizeRedisConnection, type RedisEndpoint } from '../../config/redis-schema.js';
import { defaultBytes, defaultMs, schemaDefault } from '../../config/schema-kit.js';
import type { UpstreamConfig } from '../../upstreams/config/types.js';
import { ServiceSchema, type RawService, type RawServices } from './schema.js';
import type { CommandConfig, ServiceConfig } from './types.js';

const S = ServiceSchema;
const ms = (...path: string[]) => defaultMs(S, ...path);

/** Every default of a service, from its schema. */
export const SERVICE_DEFAULTS = {
  readyTimeoutMs: ms('readyTimeout'),
  stopTimeoutMs: ms('stopTimeout'),
  unhealthyForMs: ms('restart', 'unhealthyFor'),
  slowForMs: ms('restart', 'slow', 'for'),
  slowMinRequests: schemaDefault(S, 'restart', 'slow', 'minRequests') as number,
  initialBackoffMs: ms('restart', 'initialBackoff'),
  maxBackoffMs: ms('restart', 'maxBackoff'),
  resetAfterMs: ms('restart', 'resetAfter'),
  budgetRestarts: schemaDefault(S, 'restart', 'budget', 'restarts') as number,
  budgetWindowMs: ms('restart', 'budget', 'window'),
  tolerancePercent: schemaDefault(S, 'scale', 'tolerance') as number,
  scaleWindowMs: ms('scale', 'window'),
  scaleUpAfterMs: ms('scale', 'scaleUpAfter'),
  scaleDownAfterMs: ms('scale', 'scaleDownAfter'),
  scaleCommandTimeoutMs: ms('scale', 'commandTimeout'),
  outputLog: schemaDefault(S, 'output', 'log') as boolean,
  outputMaxSize: defaultBytes(S, 'output', 'rotate', 'maxSize'),
  outputMaxFiles: schemaDefault(S, 'output', 'rotate', 'maxFiles') as number,
  outputDaily: schemaDefault(S, 'output', 'rotate', 'daily') as boolean,
} as const;

/**
 * Normalises every service. `upstreams` are the normalised upstreams of the same file.
 *
 * @example
 * const services = normalizeServices(check, raw.services ?? {}, upstreams);
 */
export function normalizeServices(check: ConfigCheck, raw: RawServices, upstreams: Readonly<Record<string, UpstreamConfig>>): Record<string, ServiceConfig> {
  const services: Record<string, ServiceConfig> = {};
  const byUpstream = new Map<string, string>();
  for (const [name, service] of Object.entries(raw)) {
    const config = normalizeService(check, name, service, upstreams);
    putOwn(services, name, config);
    const at = ['services', name, 'upstream'];
    const earlier = byUpstream.get(config.upstream);
    if (earlier !== undefined) check.problem(at, `upstream ${JSON.stringify(config.upstream)} is already bound to service ${JSON.stringify(earlier)}; a service's instances are the targets of an upstream of its own`);
    else byUpstream.set(config.upstream, name);
  }
  return services;
}

function normalizeService(check: ConfigCheck, name: string, raw: RawService, upstreams: Readonly<Record<string, UpstreamConfig>>): ServiceConfig {
  const at: PathSegment[] = ['services', name];
  const d = SERVICE_DEFAULTS;
  const cwd = directory(check, [...at, 'cwd'], raw.cwd);
  const command = raw.command === undefined ? null : commandOf(raw.command);
  const scaleCommand = raw.scale?.command === undefined ? null : commandOf(raw.scale.command);
  if (command === null && scaleCommand === null) {
    check.problem(at, `service ${JSON.stringify(name)} has no \`command\`: say what to run, e.g. command: [node, server.mjs] (or give scale.command for instances that run elsewhere)`, 'key');
  }
  if (command !== null) commandFound(check, [...at, 'command'], command, cwd);

  let min = 1;
  let max = 1;
  if (typeof raw.instances === 'number') min = max = raw.instances;
  else if (raw.instances !== undefined) {
    min = raw.instances.min;
    max = raw.instances.max ?? min;
    if (max < min) check.problem([...at, 'instances', 'max'], `max (${max}) is below min (${min})`);
  }

  const upstream = upstreams[raw.upstream];
  if (!Object.hasOwn(upstreams, raw.upstream) || upstream === undefined) {
    check.problem([...at, 'upstream'], `unknown upstream ${JSON.stringify(raw.upstream)}; declare it under upstreams (with a healthCheck)${didYouMean(raw.upstream, Object.keys(upstreams))}`);
  } else if (command !== null) {
    if (upstream.healthCheck === null) {
      check.problem(
        [...at, 'upstream'],
        `upstream ${JSON.stringify(raw.upstream)} has no healthCheck; a supervised service needs one: an instance takes traffic once its first probe passes, and the check is how a hung instance is found. Add e.g. healthCheck: { path: /healthz, interval: 1s }`,
      );
    } else if (upstream.healthCheck.initiallyHealthy) {
      check.problem([...at, 'upstream'], `upstream ${JSON.stringify(raw.upstream)} has healthCheck.initiallyHealthy: true, which would send traffic to an instance before it is ready; remove it for a supervised service`);
    } else if (upstream.healthCheck.type === 'tcp') {
      check.warn([...at, 'upstream'], `upstream ${JSON.stringify(raw.upstream)} has a tcp health check: it sees an instance start, not hang (the kernel accepts connections for a stopped process); use an HTTP check (healthCheck.path) so hung instances are restarted`);
    }
  }

  const r = raw.restart ?? {};
  const duration = (path: PathSegment[], value: string | number | undefined, fallback: number) => check.duration([...at, ...path], value, fallback);
  const slowWindowMs = duration(['restart', 'slow', 'for'], r.slow?.for, d.slowForMs);
  if (r.slow !== undefined && (slowWindowMs < 1000 || slowWindowMs > 3_600_000 || slowWindowMs % 1000 !== 0)) {
    check.problem([...at, 'restart', 'slow', 'for'], 'the latency window is whole seconds from 1s to 1h (the per-target statistics are kept per second)');
  }
  const initialBackoffMs = duration(['restart', 'initialBackoff'], r.initialBackoff, d.initialBackoffMs);
  const maxBackoffMs = duration(['restart', 'maxBackoff'], r.maxBackoff, d.maxBackoffMs);
  if (maxBackoffMs < initialBackoffMs) check.problem([...at, 'restart', 'maxBackoff'], `maxBackoff (${maxBackoffMs}ms) is below initialBackoff (${initialBackoffMs}ms)`);
  const readyTimeoutMs = duration(['readyTimeout'], raw.readyTimeout, d.readyTimeoutMs);
  if (readyTimeoutMs < 100) check.problem([...at, 'readyTimeout'], 'an instance needs at least 100ms to start and pass a health check');

  const s = raw.scale;
  let scale: ServiceConfig['scale'] = null;
  if (s !== undefined) {
    const targetP95Ms = s.targetP95 === undefined ? null : duration(['scale', 'targetP95'], s.targetP95, 0);
    if (s.targetInFlight === undefined && targetP95Ms === null && s.targetCpu === undefined) {
      check.problem([...at, 'scale'], 'autoscaling needs a target: targetInFlight (requests in flight per instance), targetP95 or targetCpu', 'key');
    }
    if (targetP95Ms === 0) check.problem([...at, 'scale', 'targetP95'], 'a p95 target of 0 can never be met');
    if (scaleCommand === null && min === max) check.warn([...at, 'scale'], `ignored: instances is fixed at ${min}; give instances: { min, max } to autoscale`, 'key');
    scale = {
      targetInFlight: s.targetInFlight ?? null,
      targetP95Ms,
      targetCpuPercent: s.targetCpu ?? null,
      tolerance: (s.tolerance ?? d.tolerancePercent) / 100,
      windowMs: Math.max(1000, duration(['scale', 'window'], s.window, d.scaleWindowMs)),
      upAfterMs: duration(['scale', 'scaleUpAfter'], s.scaleUpAfter, d.scaleUpAfterMs),
      downAfterMs: duration(['scale', 'scaleDownAfter'], s.scaleDownAfter, d.scaleDownAfterMs),
      command: scaleCommand,
      commandTimeoutMs: duration(['scale', 'commandTimeout'], s.commandTimeout, d.scaleCommandTimeoutMs),
    };
  }

  const o = raw.output ?? {};
  return {
    name,
    command,
    cwd,
    env: { ...(raw.env ?? {}) },
    min,
    max: Math.max(min, max),
    upstream: raw.upstream,
    readyTimeoutMs,
    drainTimeoutMs: raw.drainTimeout === undefined ? null : duration(['drainTimeout'], raw.drainTimeout, 0),
    stopTimeoutMs: duration(['stopTimeout'], raw.stopTimeout, d.stopTimeoutMs),
    restart: {
      unhealthyForMs: duration(['restart', 'unhealthyFor'], r.unhealthyFor, d.unhealthyForMs),
      slow: r.slow === undefined ? null : { p99Ms: duration(['restart', 'slow', 'p99'], r.slow.p99, 0), windowS: Math.round(slowWindowMs / 1000), minRequests: r.slow.minRequests ?? d.slowMinRequests },
      maxMemoryBytes: r.maxMemory === undefined ? null : check.size([...at, 'restart', 'maxMemory'], r.maxMemory, 0),
      initialBackoffMs,
      maxBackoffMs,
      resetAfterMs: duration(['restart', 'resetAfter'], r.resetAfter, d.resetAfterMs),
      budget: {
        restarts: r.budget?.restarts ?? d.budgetRestarts,
        windowMs: Math.max(1000, duration(['restart', 'budget', 'window'], r.budget?.window, d.budgetWindowMs)),
      },
    },
    scale,
    output: {
      log: o.log ?? d.outputLog,
      file: o.file === undefined ? null : resolve(check.baseDir, o.file),
      maxSize: check.size([...at, 'output', 'rotate', 'maxSize'], o.rotate?.maxSize, d.outputMaxSize),
      maxFiles: o.rotate?.maxFiles ?? d.outputMaxFiles,
      daily: o.rotate?.daily ?? d.outputDaily,
    },
    register:
      raw.register === undefined
        ? null
        : { redis: registryRedis(check, [...at, 'register', 'redis'], raw.register.redis), service: raw.register.service ?? name, ttlMs: Math.max(300, duration(['register', 'ttl'], raw.register.ttl, 10_000)), advertiseHost: raw.register.advertiseHost ?? '127.0.0.1' },
  };
}

/** `register.redis`: a URL (one server) or the shared connection keys (a server or Sentinel). */
function registryRedis(check: ConfigCheck, at: readonly PathSegment[], raw: NonNullable<RawService['register']>['redis']): RedisEndpoint {
  const problems: PathProblem[] = [];
  const endpoint = normalizeRedisConnection(typeof raw === 'string' ? { url: raw } : raw, [], problems);
  // A plain URL's problems are about the value itself, not a `url` key the config does not have.
  for (const p of problems) check.problem(typeof raw === 'string' ? at : [...at, ...p.path], p.message, typeof raw === 'string' ? 'value' : p.at);
  // An endpoint in error has been reported: the placeholder is never opened.
  return endpoint ?? { kind: 'url', url: 'redis://127.0.0.1:6379' };
}

function commandOf(raw: string | readonly string[]): CommandConfig {
  return typeof raw === 'string' ? { argv: ['/bin/sh', '-c', raw], shell: true } : { argv: [...raw], shell: false };
}

function directory(check: ConfigCheck, path: PathSegment[], raw: string | undefined): string {
  const dir = raw === undefined ? check.baseDir : resolve(check.baseDir, raw);
  try {
    if (!statSync(dir).isDirectory()) check.problem(path, `cwd ${dir} is not a directory`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    check.problem(path, code === 'ENOENT' ? `cwd not found: ${dir} (relative paths start at the config file's directory)` : `cwd cannot be read: ${dir}: ${(error as Error).message}`);
  }
  return dir;
}

/**
 * A warning, not a problem, when the program cannot be found now: it may be installed
 * before the instances start. At start a missing program is an error with its own code
 * (BRISK_SERVICE_START_FAILED) and an alert, never a crash.
 */
function commandFound(check: ConfigCheck, path: PathSegment[], command: CommandConfig, cwd: string): void {
  if (command.shell) return;
  const program = command.argv[0]!;
  const candidates = program.includes('/') ? [isAbsolute(program) ? program : resolve(cwd, program)] : (process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '').map((d) => join(d, program));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return;
    } catch {
      // not this one
    }
  }
  check.warn(path, `program ${JSON.stringify(program)} is not found${program.includes('/') ? ` (${candidates[0]})` : ' on PATH'} or not executable; its instances will fail to start`);
}
