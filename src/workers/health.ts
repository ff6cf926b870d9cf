import type { Ejection } from '../core/views.js';
import type { Runtime } from '../proxy/runtime.js';
import type { Target } from '../upstreams/target.js';
import type { HealthEntry } from './protocol.js';

/**
 * Health is one for the node. The primary runs the active health checks (once, not once
 * per worker) and holds every ejection: a worker's outlier detection ejects a target
 * locally at once and reports it in its next report (≤ 100 ms); the primary ejects it too
 * and sends the table to every worker, so a target one worker ejects is ejected for all.
 * The table is sent only when it changed; it costs nothing per request.
 */

/** The targets that are not plainly healthy (unhealthy or ejected), as the primary holds them. */
export function healthTable(rt: Runtime): HealthEntry[] {
  const out: HealthEntry[] = [];
  for (const u of rt.upstreams.values()) {
    for (const t of u.targets) if (!t.activeHealthy || t.ejection !== null) out.push([t.key, t.activeHealthy, t.activeReason, t.ejection]);
  }
  return out;
}

/** A short digest of a table, to send it only when it changed. */
export function healthDigest(entries: readonly HealthEntry[]): string {
  let s = '';
  for (const [key, healthy, , e] of entries) s += `${key}|${healthy ? 1 : 0}|${e === null ? 0 : e.until}\n`;
  return s;
}

/**
 * Puts the primary's table in force in a worker: targets it lists take its verdict and
 * ejection; the others are healthy and, unless this worker's own detection ejected them
 * since (not yet in the table), not ejected. `known` collects the ejections that came from
 * the primary, so the worker does not report them back.
 */
export function applyHealth(rt: Runtime, entries: readonly HealthEntry[], known: WeakSet<Ejection>): void {
  const byKey = new Map<string, HealthEntry>();
  for (const e of entries) byKey.set(e[0], e);
  const now = Date.now();
  for (const u of rt.upstreams.values()) {
    for (const t of u.targets) {
      const entry = byKey.get(t.key);
      const healthy = entry === undefined ? true : entry[1];
      if (t.activeHealthy !== healthy) t.setActiveHealth(healthy, entry?.[2] ?? null);
      const ejection = entry?.[3] ?? null;
      if (ejection !== null && ejection.until > now) {
        if (t.ejection === null || t.ejection.until < ejection.until) ejectUntil(t, ejection, known);
      } else if (t.ejection !== null && known.has(t.ejection)) {
        // The primary readmitted it (time up, or a passing probe).
        t.readmit();
      }
    }
  }
}

/** Ejects a target with an ejection decided elsewhere, and readmits it when that ends. */
export function ejectUntil(t: Target, ejection: Ejection, known: WeakSet<Ejection>): void {
  const copy: Ejection = { reason: ejection.reason, until: ejection.until, at: ejection.at };
  known.add(copy);
  t.eject(copy);
  const timer = setTimeout(() => {
    if (t.ejection === copy) t.readmit();
  }, Math.max(0, copy.until - Date.now()));
  timer.unref();
}
