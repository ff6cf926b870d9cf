/**
 * What the admin API reads and drives: the narrow view of the running gateway that the
 * admin listener and the dashboard are given, so that the admin layer does not depend on
 * how the gateway is assembled (one process today; a control plane feeding data-plane
 * workers later).
 */
import type { CacheStats } from '../middlewares/cache/middleware.js';
import type { PurgeSpec } from '../middlewares/cache/store.js';
import type { WorkerInfo } from '../workers/protocol.js';
import type { AlertingService } from '../alerting/index.js';
import type { ConfigProblem } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import type { AlertsView } from '../observability/snapshot.js';
import type { GatewayStats } from '../observability/stats.js';
import type { Runtime } from '../proxy/runtime.js';
import type { ServicesView } from '../supervisor/types.js';
import type { MembershipCommand, MembershipResult } from '../upstreams/membership.js';

/** The outcome of a reload. */
export type ReloadResult =
  | {
      readonly ok: true;
      readonly version: number;
      readonly unchanged?: boolean;
      /** Keys that changed but stay bound to the config the process started with (listen, admin, …). */
      readonly restartRequired?: readonly string[];
      /** With workers: the version each serves once the reload returns (all the same when every one applied it). */
      readonly workers?: readonly { readonly slot: number; readonly version: number }[];
    }
  | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

/** A bound listener as the admin API lists it. */
export interface ListenerInfo {
  readonly config: { readonly name: string };
  readonly host: string;
  readonly port: number;
  readonly protocol: string;
}

/** The running gateway as the admin API sees it. */
export interface AdminHost {
  readonly logger: Logger;
  /** The config version in force. */
  readonly runtime: Runtime;
  readonly draining: boolean;
  readonly listeners: readonly ListenerInfo[];
  readonly openConnections: number;
  readonly openTunnels: number;
  readonly lastReloadAt: Date | null;
  /** Problems of the last reload that failed; empty after one that succeeded. */
  readonly lastReloadProblems: readonly ConfigProblem[];
  readonly stats: GatewayStats;
  readonly alerts: AlertsView | null;
  readonly alerting: AlertingService | null;
  /** Changes an upstream's live target set; null when the upstream is not in the config in force. */
  membership(upstream: string, command: MembershipCommand): MembershipResult | null;
  /** The services Brisk runs (empty when the config has none). */
  readonly services: ServicesView;
  /** Re-reads the config source and swaps it in (or keeps the old one and says why). */
  reload(): Promise<ReloadResult>;
  /** The data-plane workers; null when the gateway is one process. */
  readonly workers: WorkersView | null;
}

/** The data-plane workers as the admin API sees them. */
export interface WorkersView {
  list(): readonly WorkerInfo[];
  /** A rolling restart: resolves when every worker was replaced. */
  restart(): Promise<void>;
  /** The warm spare worker: null when there is none right now. */
  spare(): 'starting' | 'ready' | null;
  /** Connections handed to a worker that died before taking them: served by another worker, or closed when none could. */
  rescued(): { readonly handedOver: number; readonly closed: number };
  /** Every worker's route cache counters, summed per route, and each worker's (each caches in its own memory). */
  cacheStats(): Promise<{ readonly routes: Readonly<Record<string, CacheStats>>; readonly workers: readonly { readonly slot: number; readonly routes: Readonly<Record<string, CacheStats>> }[] }>;
  /** Purges every worker's route caches (each holds its own memory tier); resolves with the entries removed. */
  purge(spec: PurgeSpec, route: string | null): Promise<number>;
}
