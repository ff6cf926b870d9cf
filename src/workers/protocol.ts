/**
 * The messages between the primary and its data-plane workers (node:cluster IPC, with
 * the `advanced` serialisation: structured clone, so batches cross as arrays, not JSON).
 * Everything is plain data. Nothing here is sent per request: a worker reports every
 * `REPORT_MS`, the primary writes only when something changed (a config version, a
 * membership command, the health table, rate-limit shares).
 */
import type { ListenerConfig } from '../config/types.js';
import type { Ejection } from '../core/views.js';
import type { Batch } from './batch.js';
import type { CacheStats } from '../middlewares/cache/middleware.js';
import type { PurgeSpec } from '../middlewares/cache/store.js';
import type { ConfigInputs } from '../providers/config-file.js';
import type { MembershipCommand } from '../upstreams/membership.js';

/** How often a worker reports (its batch of finished requests, its gauges): also its heartbeat. */
export const REPORT_MS = 100;
/** An idle worker reports every this many `REPORT_MS` ticks (its heartbeat). */
export const IDLE_REPORT_EVERY = 5;
/** How long after the first request it finished since the last send a worker sends them, between reports. */
export const BATCH_MS = 25;
/** How long after a connection closed a worker tells the primary (coalescing the closes meanwhile). */
export const CLOSED_MS = 20;
/** A worker silent this long has a stuck event loop: it is killed and replaced. */
export const STUCK_MS = 2500;

/** A target's health as the primary holds it: `[key, activeHealthy, activeReason, ejection]`. */
export type HealthEntry = readonly [key: string, activeHealthy: boolean, activeReason: string | null, ejection: Ejection | null];

/** A membership command for an upstream, in the order the primary applied it. */
export interface MembershipEntry {
  readonly upstream: string;
  readonly command: MembershipCommand;
}

/** What a worker needs to serve: the config text, its version, and the runtime state the primary holds. */
export interface StartMessage {
  readonly t: 'start';
  /** The worker's slot (1…N): stable across replacements (per-worker log files, metrics labels). */
  readonly slot: number;
  /** The warm spare: build the config version, bind nothing until `listen`. */
  readonly standby: boolean;
  /** Workers in the node: each takes 1/N of a rate limit until the primary sets its share. */
  readonly workers: number;
  readonly version: number;
  /** The texts the primary checked (the file, a config store's document). */
  readonly inputs: ConfigInputs;
  readonly file: string;
  readonly membership: readonly MembershipEntry[];
  readonly health: readonly HealthEntry[];
  /** The listeners the primary bound (their ports the ones it got): the worker serves these, binding nothing. */
  readonly listeners: readonly ListenerConfig[];
}

/** A worker's share of a node-wide in-memory rate limit (src/workers/shares.ts). */
export interface ShareGrant {
  /** The limit: route, limit name and key, NUL-separated. */
  readonly id: string;
  /** 0..1; -1: forget it (back to 1/N). */
  readonly share: number;
}

export type ToWorker =
  | StartMessage
  | { readonly t: 'apply'; readonly version: number; readonly inputs: ConfigInputs; readonly file: string }
  | { readonly t: 'membership'; readonly entry: MembershipEntry }
  | { readonly t: 'health'; readonly entries: readonly HealthEntry[] }
  | { readonly t: 'shares'; readonly grants: readonly ShareGrant[] }
  | { readonly t: 'listen'; readonly slot: number }
  | { readonly t: 'reopen' }
  /** Report now (finished requests, gauges, ejections), then `flushed` (a scrape of `/metrics` waits for it), with its process families when asked. */
  | { readonly t: 'flush'; readonly id: number; readonly process: boolean }
  /** `GET /api/cache`: each worker's route caches are its own. */
  | { readonly t: 'cacheStats'; readonly id: number }
  /** Another worker's breaker for this upstream opened: open this one for the rest of that time. */
  | { readonly t: 'breaker'; readonly upstream: string; readonly openForMs: number; readonly worker: number }
  /** `POST /api/cache/purge`: each worker's memory cache is its own. */
  | { readonly t: 'purge'; readonly id: number; readonly spec: PurgeSpec; readonly route: string | null }
  /** Serve the connection sent with this message on listener `listener`, and acknowledge it (`took`) before reading it (src/workers/distributor.ts). */
  | { readonly t: 'conn'; readonly id: number; readonly listener: string }
  | { readonly t: 'stop' };

/** A worker's gauges and its batch, every `REPORT_MS`. */
export interface Report {
  readonly t: 'report';
  readonly version: number;
  /** Finished requests since the last send (`STRIDE` numbers each, src/workers/batch.ts). */
  readonly batch: Batch;
  readonly inFlight: number;
  readonly openConnections: number;
  readonly openTunnels: number;
  /** Connections the primary sent it that closed since it started (monotonic): the primary's count of its open connections. */
  readonly closed: number;
  readonly shedLevel: number;
  /** Ejections its outlier detection made since the last report: `[target key, ejection]`. */
  readonly ejections: readonly (readonly [string, Ejection])[];
  /** Breakers that opened on this worker's own traffic since the last report: `[upstream, ms left open]`. */
  readonly breakers: readonly (readonly [string, number])[];
  /** Tries in flight per target key (only those with some): the supervisor's autoscaling reads them summed. */
  readonly targetsInFlight: Readonly<Record<string, number>>;
  /** Rate-limit demand since the last report: limit id → requests asked for (admitted or not). */
  readonly demand: Readonly<Record<string, readonly [requests: number, ratePerSecond: number]>>;
  /** Its process's resident memory and CPU time (µs, user + system), for the per-worker gauges. */
  readonly rss: number;
  readonly cpuUs: number;
}

export type FromWorker =
  /** Its message handler is in place (messages sent before would be lost): the primary sends `start`. */
  | { readonly t: 'hello' }
  /** The warm spare built the version in force and waits for `listen`. */
  | { readonly t: 'standby' }
  | { readonly t: 'ready'; readonly version: number; readonly listeners: readonly { readonly name: string; readonly host: string; readonly port: number; readonly protocol: string }[] }
  | { readonly t: 'applied'; readonly version: number; readonly ok: boolean; readonly message?: string }
  | Report
  | { readonly t: 'fatal'; readonly message: string }
  | { readonly t: 'purged'; readonly id: number; readonly memory: number }
  /** `process`: its `brisk_process_*` / `brisk_nodejs_*` families (Prometheus text), when asked. */
  | { readonly t: 'flushed'; readonly id: number; readonly process: string | null }
  | { readonly t: 'cacheStats'; readonly id: number; readonly routes: Readonly<Record<string, CacheStats>> }
  /** Finished requests between reports. */
  | { readonly t: 'batch'; readonly batch: Batch }
  /** It took connection `id` (the primary closes its copy); `closed`: as in its reports. */
  | { readonly t: 'took'; readonly id: number; readonly closed: number }
  /** Connections sent to it that closed (monotonic), `CLOSED_MS` after a close when no acknowledgement or report told it first. */
  | { readonly t: 'closed'; readonly closed: number };

/** Why a worker was replaced, for `brisk_worker_restarts_total{reason}`. */
export const RESTART_REASONS = ['exit', 'stuck', 'rolling'] as const;
export type RestartReason = (typeof RESTART_REASONS)[number];
export type WorkerState = 'starting' | 'ready' | 'stopping' | 'down';

/** A worker as `GET /api/workers` and `brisk workers` show it. */
export interface WorkerInfo {
  /** Its slot (1…N), kept by a replacement. */
  readonly slot: number;
  readonly pid: number | null;
  readonly state: WorkerState;
  /** The config version it serves. */
  readonly version: number;
  readonly startedAt: string | null;
  /** Requests finished in this slot since the node started. */
  readonly requests: number;
  /** Its share of the node's requests over the last 10 seconds (0..1). */
  readonly share: number;
  readonly inFlight: number;
  readonly openConnections: number;
  readonly restarts: Readonly<Record<RestartReason, number>>;
  readonly rssBytes: number;
  /** Since its last report (-1: no worker in the slot). */
  readonly heartbeatAgeMs: number;
}
