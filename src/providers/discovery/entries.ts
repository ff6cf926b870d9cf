/**
 * Reading registry entries into targets, the same way for every provider whose entries
 * are documents (the watched file, Redis, etcd): a URL string, `host:port` (the
 * upstream's `scheme` is put in front), or an object with `url` (or `host` and `port`) and
 * an optional `weight`.
 */
import type { DiscoveredTarget } from './config/contract.js';

/** One entry as a target, or a reason it is not one. */
export function entryTarget(entry: unknown, scheme: string): DiscoveredTarget | { readonly invalid: string } {
  if (typeof entry === 'string') return { url: withScheme(entry.trim(), scheme) };
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return { invalid: `expected a URL or an object with url, got ${JSON.stringify(entry)?.slice(0, 80)}` };
  const e = entry as Record<string, unknown>;
  let url: string;
  if (typeof e['url'] === 'string') url = withScheme(e['url'].trim(), scheme);
  else if (typeof e['host'] === 'string' && (typeof e['port'] === 'number' || typeof e['port'] === 'string')) url = `${scheme}://${hostPart(e['host'])}:${String(e['port'])}`;
  else return { invalid: `an entry needs url (or host and port): ${JSON.stringify(entry).slice(0, 80)}` };
  const weight = e['weight'];
  if (weight === undefined || weight === null) return { url };
  if (typeof weight !== 'number') return { invalid: `weight of ${url} is not a number` };
  return { url, weight };
}

function withScheme(text: string, scheme: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `${scheme}://${text}`;
}

/** An IPv6 address in a URL goes in brackets. */
export function hostPart(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
