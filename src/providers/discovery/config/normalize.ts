/** Checks and normalisation of an upstream's `discovery` block (schema.ts next to it). */
import { isAbsolute, join, resolve } from 'node:path';
import type { ConfigCheck } from '../../../config/normalize-kit.js';
import type { PathSegment } from '../../../config/positions.js';
import { PROVIDERS } from './registry.js';
import type { RawDiscovery } from './schema.js';
import type { DiscoveryConfig } from './types.js';

/** Where snapshots go by default, relative to the config file (the alert queue is `.brisk/alerts`). */
export const SNAPSHOT_DIR = '.brisk/discovery';

/**
 * Normalises `upstreams.NAME.discovery`; null (with a problem) when it names no provider
 * or several.
 *
 * @example
 * normalizeDiscovery(check, ['upstreams', 'shop', 'discovery'], 'shop', { dns: { name: 'shop.internal', port: 8080 } });
 */
export function normalizeDiscovery(check: ConfigCheck, at: readonly PathSegment[], upstream: string, raw: RawDiscovery): DiscoveryConfig | null {
  const given = PROVIDERS.filter((p) => (raw as Record<string, unknown>)[p.key] !== undefined);
  if (given.length !== 1) {
    const keys = PROVIDERS.map((p) => p.key).join(', ');
    check.problem(at, given.length === 0 ? `discovery needs one provider: ${keys}` : `discovery takes one provider, not ${given.map((p) => p.key).join(' and ')}; use one upstream per provider`, 'key');
    return null;
  }
  const descriptor = given[0]!;
  const provider = descriptor.normalize(check, [...at, descriptor.key], (raw as Record<string, unknown>)[descriptor.key] as never);
  const snapshot = raw.snapshot ?? true;
  const snapshotFile = snapshot === false ? null : snapshot === true ? resolve(check.baseDir, SNAPSHOT_DIR, `${fileSafe(upstream)}.json`) : isAbsolute(snapshot) ? snapshot : resolve(check.baseDir, snapshot);
  return {
    provider,
    minTargets: raw.minTargets ?? 1,
    scheme: raw.scheme ?? 'http',
    weight: raw.weight ?? 1,
    snapshotFile,
    startWaitMs: check.duration([...at, 'startWait'], raw.startWait, 3000),
  };
}

/** An upstream name as a file name: anything but letters, digits, `-`, `_` and `.` is %-encoded. */
function fileSafe(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_.-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return safe.startsWith('.') ? `%2e${safe.slice(1)}` : join(safe);
}
