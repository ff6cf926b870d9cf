import type { ListenerInfo } from '../admin/host.js';
import type { Config, ConfigProblem } from '../config/types.js';
import type { ExportStats } from '../observability/otlp-exporter.js';
import type { Runtime } from '../proxy/runtime.js';
import type { MembershipCommand, MembershipResult, MemberStatus } from '../upstreams/membership.js';

/**
 * The narrow interface between the control plane and a data plane: the control plane
 * hands it config versions and reads its state; nothing else crosses. `DataPlane`
 * (src/dataplane/) is the in-process implementation; a set of data-plane workers behind
 * one control plane implements the same shape.
 */
export interface DataPlanePort {
  /** The config version in force, as built (routes, upstreams, targets and their health). */
  readonly runtime: Runtime;
  readonly draining: boolean;
  readonly listeners: readonly ListenerInfo[];
  readonly openConnections: number;
  readonly openTunnels: number;
  /** The gateway-wide shedding level (0 when `overload` is off). */
  readonly shedLevel: number;
  /** Span export counters; null when spans are not exported. */
  readonly tracingStats: ExportStats | null;
  /** Changes an upstream's live target set (plain data, so it can go to workers); null when the upstream is not in the config in force. */
  membership(upstream: string, command: MembershipCommand): MembershipResult | null;
  /** An upstream's members with their state, health and load (plain data); null when the upstream is not in the config in force. */
  members(upstream: string): readonly MemberStatus[] | null;
  /** Puts a new config version in force (built and warmed in full, then swapped). */
  apply(config: Config): Promise<{ readonly ok: true; readonly version: number; readonly closedTunnels: number } | { readonly ok: false; readonly problems: readonly ConfigProblem[] }>;
}
