/**
 * A supervised service's normalised configuration (`services.<name>`): durations in
 * milliseconds, sizes in bytes, paths absolute, defaults filled in. Made by
 * `normalize.ts` next to it.
 */
import type { RedisEndpoint } from '../../config/redis-schema.js';

/** What to run: an argv, either the user's array or `/bin/sh -c TEXT` for a string. */
export interface CommandConfig {
  readonly argv: readonly string[];
  /** Written as a string (run by `/bin/sh -c`): for messages. */
  readonly shell: boolean;
}

export interface SlowRuleConfig {
  readonly p99Ms: number;
  /** Whole seconds (the stats windows are per second). */
  readonly windowS: number;
  readonly minRequests: number;
}

export interface RestartConfig {
  /** 0: never restart for health. */
  readonly unhealthyForMs: number;
  readonly slow: SlowRuleConfig | null;
  /** Bytes; null: no memory rule. */
  readonly maxMemoryBytes: number | null;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly resetAfterMs: number;
  readonly budget: { readonly restarts: number; readonly windowMs: number };
}

export interface ScaleConfig {
  readonly targetInFlight: number | null;
  readonly targetP95Ms: number | null;
  /** Percent of one core per instance. */
  readonly targetCpuPercent: number | null;
  /** 0..1 */
  readonly tolerance: number;
  readonly windowMs: number;
  readonly upAfterMs: number;
  readonly downAfterMs: number;
  readonly command: CommandConfig | null;
  readonly commandTimeoutMs: number;
}

export interface OutputConfig {
  readonly log: boolean;
  /** Absolute path (may hold `{instance}`), or null. */
  readonly file: string | null;
  readonly maxSize: number;
  readonly maxFiles: number;
  readonly daily: boolean;
}

/** One normalised service. */
export interface ServiceConfig {
  readonly name: string;
  /** Null for a service scaled by `scale.command` only (its instances run elsewhere). */
  readonly command: CommandConfig | null;
  /** Absolute. */
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly min: number;
  readonly max: number;
  readonly upstream: string;
  readonly readyTimeoutMs: number;
  /** Null: the upstream's `drainTimeout`. */
  readonly drainTimeoutMs: number | null;
  readonly stopTimeoutMs: number;
  readonly restart: RestartConfig;
  /** Null: no autoscaling (the count stays at `min` unless set through the admin API). */
  readonly scale: ScaleConfig | null;
  readonly output: OutputConfig;
  /** Publish ready instances in the Redis registry; null: do not. */
  readonly register: RegisterConfig | null;
}

/** `services.NAME.register`: the Redis registry the instances are published in. */
export interface RegisterConfig {
  /** One server or the primary Sentinel names. */
  readonly redis: RedisEndpoint;
  readonly service: string;
  readonly ttlMs: number;
  /** Host of the advertised URL (`http://HOST:PORT`). */
  readonly advertiseHost: string;
}
