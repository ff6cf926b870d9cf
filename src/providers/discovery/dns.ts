/**
 * The DNS provider (`discovery.dns`): A, AAAA (or both) or SRV records through node:dns's
 * `Resolver` (c-ares: asynchronous, its own servers and timeouts, no thread-pool
 * `getaddrinfo`), resolved again when the answer's TTL runs out, clamped into
 * `minTtl`..`maxTtl` (a TTL of 0 must not resolve in a loop, a day-long one must not
 * freeze the view).
 *
 * What counts as an answer: records, or an authoritative "no such name / no records"
 * (NXDOMAIN, NODATA) — an empty answer, which the feed's `minTargets` guard refuses by
 * default. What counts as a failure: a timeout, SERVFAIL, a refused query, no resolver
 * reachable; the last good answer then stays, and the next try comes after `minTtl`,
 * doubling up to `maxTtl`.
 *
 * SRV: only the records of the lowest priority are used (the others are backups, RFC
 * 2782), each record's weight (clamped to 1..1000) is the target's weight, and each
 * record's host is resolved to its addresses (A, then AAAA). node:dns does not expose the
 * TTL of SRV records, so the next resolution follows the shortest TTL of those address
 * lookups (within the clamp).
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { DiscoveredTarget, DiscoveryProvider, DiscoverySink, ProviderContext } from './config/contract.js';
import type { DnsDiscoveryConfig } from './config/types.js';
import { hostPart } from './entries.js';

/** Codes of an authoritative empty answer (the name or its records do not exist). */
const EMPTY_CODES = new Set(['ENOTFOUND', 'ENODATA']);

interface Resolved {
  readonly targets: DiscoveredTarget[];
  /** Shortest TTL seen, seconds; null when none was (the caller uses maxTtl). */
  readonly ttlS: number | null;
}

export function start(config: DnsDiscoveryConfig, sink: DiscoverySink, context: ProviderContext): DiscoveryProvider {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let failures = 0;
  let resolver: Resolver | null = null;
  const run = async (): Promise<void> => {
    timer = null;
    // A fresh resolver per round: `cancel()` of a timed-out round cannot touch the next one.
    const r = new Resolver({ timeout: config.timeoutMs, tries: 1 });
    if (config.servers.length > 0) r.setServers([...config.servers]);
    resolver = r;
    let next: number;
    try {
      const result = await resolveTargets(r, config, context.scheme);
      if (stopped) return;
      failures = 0;
      sink.answer(result.targets);
      next = clamp(result.ttlS === null ? config.maxTtlMs : result.ttlS * 1000, config);
    } catch (err) {
      if (stopped) return;
      failures++;
      sink.failed(`DNS ${config.type} ${config.name}${config.servers.length > 0 ? ` (asking ${config.servers.join(', ')})` : ''}: ${describe(err)}`);
      next = Math.min(config.maxTtlMs, config.minTtlMs * 2 ** Math.min(failures - 1, 16));
    }
    if (!stopped) {
      timer = setTimeout(() => void run(), next);
      timer.unref();
    }
  };
  void run();
  return {
    async stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      resolver?.cancel();
    },
  };
}

function clamp(ms: number, config: DnsDiscoveryConfig): number {
  return Math.min(config.maxTtlMs, Math.max(config.minTtlMs, ms));
}

/** Resolves the configured name into targets; rejects on a failure (not on an empty answer). */
async function resolveTargets(r: Resolver, config: DnsDiscoveryConfig, scheme: string): Promise<Resolved> {
  if (config.type === 'SRV') return resolveSrv(r, config.name, scheme);
  const families: (4 | 6)[] = config.type === 'A' ? [4] : config.type === 'AAAA' ? [6] : [4, 6];
  const results = await Promise.allSettled(families.map((f) => addresses(r, config.name, f)));
  const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
  // With A+AAAA one family may fail while the other answers: what answered is the answer.
  if (failed !== undefined && results.every((x) => x.status === 'rejected')) throw failed.reason;
  const found = results.flatMap((x) => (x.status === 'fulfilled' ? x.value : []));
  return { targets: found.map((a) => ({ url: `${scheme}://${hostPart(a.address)}:${config.port}` })), ttlS: minTtl(found.map((a) => a.ttl)) };
}

/** The addresses of a name in one family; [] for an authoritative empty answer. */
async function addresses(r: Resolver, name: string, family: 4 | 6): Promise<{ address: string; ttl: number }[]> {
  try {
    return family === 4 ? await r.resolve4(name, { ttl: true }) : await r.resolve6(name, { ttl: true });
  } catch (err) {
    if (EMPTY_CODES.has((err as NodeJS.ErrnoException).code ?? '')) return [];
    throw err;
  }
}

async function resolveSrv(r: Resolver, name: string, scheme: string): Promise<Resolved> {
  let records;
  try {
    records = await r.resolveSrv(name);
  } catch (err) {
    if (EMPTY_CODES.has((err as NodeJS.ErrnoException).code ?? '')) return { targets: [], ttlS: null };
    throw err;
  }
  if (records.length === 0) return { targets: [], ttlS: null };
  const best = Math.min(...records.map((s) => s.priority));
  const chosen = records.filter((s) => s.priority === best);
  const hosts = [...new Set(chosen.map((s) => s.name))];
  const ttls: number[] = [];
  const byHost = new Map<string, string[]>();
  await Promise.all(
    hosts.map(async (host) => {
      if (isIP(host) !== 0) {
        byHost.set(host, [host]);
        return;
      }
      let found = await addresses(r, host, 4);
      if (found.length === 0) found = await addresses(r, host, 6);
      for (const a of found) ttls.push(a.ttl);
      byHost.set(
        host,
        found.map((a) => a.address),
      );
    }),
  );
  const targets: DiscoveredTarget[] = [];
  for (const s of chosen) {
    const weight = Math.min(1000, Math.max(1, s.weight));
    for (const address of byHost.get(s.name) ?? []) targets.push({ url: `${scheme}://${hostPart(address)}:${s.port}`, weight });
  }
  return { targets, ttlS: minTtl(ttls) };
}

function minTtl(ttls: readonly number[]): number | null {
  return ttls.length === 0 ? null : Math.min(...ttls);
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ETIMEOUT':
      return 'no answer in time (timeout)';
    case 'ESERVFAIL':
      return 'the resolver failed (SERVFAIL)';
    case 'EREFUSED':
      return 'the resolver refused the query';
    case 'ECONNREFUSED':
      return 'no resolver could be reached (connection refused)';
    default:
      return e.message ?? String(err);
  }
}
