/**
 * The seam between a service's instances and their upstream's live target set: the
 * membership commands the supervisor sends (plain data, through the data-plane port) and
 * the member status it reads back. An instance joins with `add` from the `supervisor`
 * source; it leaves with `drain` (or `remove`, which cuts what is in flight), then the
 * source's contribution is replaced without it, so the set holds nothing back for it.
 */
import type { Logger } from '../observability/logger.js';
import { SUPERVISOR_SOURCE, type MemberStatus } from '../upstreams/membership.js';
import type { Instance } from './instance.js';
import { isListening } from './ports.js';
import type { MembershipPort } from './types.js';

export class Placement {
  constructor(
    private readonly service: string,
    private readonly port: MembershipPort,
    private readonly log: Logger,
    /** Every instance of the service, for the contribution sent after one leaves. */
    private readonly instances: () => readonly Instance[],
  ) {}

  /** What the data plane says of the members of `upstreams`, by URL (the first upstream wins a clash). */
  members(upstreams: readonly string[]): Map<string, MemberStatus> {
    const seen = new Map<string, MemberStatus>();
    for (const upstream of new Set(upstreams)) for (const m of this.port.members(upstream) ?? []) if (!seen.has(m.url)) seen.set(m.url, m);
    return seen;
  }

  /**
   * Adds the instance to its upstream once its port accepts connections, so that its first
   * probe passes (a target whose first probe fails needs `healthyThreshold` good ones).
   * Polled every 50 ms from the start: a connect on loopback costs next to nothing.
   */
  async joinWhenListening(inst: Instance, stillWanted: () => boolean): Promise<void> {
    const waiting = () => !inst.joined && inst.state === 'starting' && inst.alive && stillWanted();
    for (;;) {
      if (!waiting()) return;
      if (await isListening(inst.port, 300)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!waiting()) return;
    const result = this.port.membership(inst.spec.upstream, { op: 'add', source: SUPERVISOR_SOURCE, target: { origin: inst.url, basePath: '', weight: 1 } });
    if (result === null) {
      this.log.error({ service: this.service, upstream: inst.spec.upstream }, `service ${this.service}: upstream ${inst.spec.upstream} is not in the configuration in force; instance #${inst.id} cannot join it`);
      return;
    }
    inst.joined = true;
    if (!result.ok) this.log.warn({ service: this.service, instance: inst.id, reason: result.message }, `service ${this.service}: instance #${inst.id}: ${result.message}`);
  }

  /** Out of the balancer: its requests in flight finish within `boundMs` (0: cut at once). */
  leave(inst: Instance, boundMs: number): void {
    if (!inst.joined) return;
    this.port.membership(inst.spec.upstream, boundMs === 0 ? { op: 'remove', key: inst.url } : { op: 'drain', key: inst.url, timeoutMs: boundMs });
    inst.joined = false;
    const upstream = inst.spec.upstream;
    const targets = this.instances()
      .filter((i) => i.joined && i.spec.upstream === upstream)
      .map((i) => ({ origin: i.url, basePath: '', weight: 1 }));
    this.port.membership(upstream, { op: 'replace', source: SUPERVISOR_SOURCE, targets });
  }
}
