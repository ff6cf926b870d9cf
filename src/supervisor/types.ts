/**
 * What the supervisor is given and what it offers: the narrow part of the data-plane
 * port it drives (membership commands and member status, both plain data, so the
 * supervisor works the same with data-plane workers in other processes), and the service
 * operations the admin API, the CLI and alert actions call.
 */
import type { Logger } from '../observability/logger.js';
import type { ServiceSnapshot, StatsSource } from '../observability/snapshot.js';
import type { MembershipCommand, MembershipResult, MemberStatus } from '../upstreams/membership.js';

/** The data-plane seam the supervisor uses (a `DataPlanePort` satisfies it). */
export interface MembershipPort {
  membership(upstream: string, command: MembershipCommand): MembershipResult | null;
  members(upstream: string): readonly MemberStatus[] | null;
}

/** What a service controller needs from around it. */
export interface ServiceDeps {
  readonly port: MembershipPort;
  /** Per-target request windows (the latency rule) and the upstream's p95 (autoscaling); null: no stats. */
  readonly stats: StatsSource | null;
  readonly logger: Logger;
}

/** A refusal of a service operation, with its error code (the admin API answers with it). */
export class ServiceOperationError extends Error {
  constructor(
    readonly code: 'BRISK_SERVICE_NOT_FOUND' | 'BRISK_SERVICE_BUSY' | 'BRISK_SERVICE_REQUEST_INVALID',
    message: string,
  ) {
    super(message);
    this.name = 'ServiceOperationError';
  }
}

/** What a restart request started. */
export interface RestartStarted {
  readonly service: string;
  /** The instances to be replaced, one after the other. */
  readonly instances: readonly number[];
  /** Resolves when the last replacement is ready and the last old instance stopped (ok), or the rollout stopped early. */
  readonly done: Promise<{ readonly ok: boolean; readonly message: string }>;
}

/** The services as the admin API, the CLI and the dashboard see and drive them. */
export interface ServicesView {
  list(): readonly ServiceSnapshot[];
  get(name: string): ServiceSnapshot | undefined;
  /** A rolling restart of every instance, or of one (`instance`). Throws {@link ServiceOperationError}. */
  restart(name: string, options: { readonly instance?: number; readonly reason?: string }): RestartStarted;
  /** Sets the count (autoscaling pauses until `auto`), or `'auto'` to hand it back to the autoscaler. Throws {@link ServiceOperationError}. */
  scale(name: string, count: number | 'auto'): ServiceSnapshot;
}
