/** `discovery.dns`: the descriptor of the DNS provider (A/AAAA and SRV through node:dns). */
import { isIP } from 'node:net';
import { Type } from '../../../config/type-builder.js';
import { Duration, Strict } from '../../../config/schema-kit.js';
import { defineProvider } from './descriptor.js';
import type { DnsDiscoveryConfig } from './types.js';

export const dnsProvider = defineProvider({
  key: 'dns',
  schema: Strict(
    {
      name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.-]+$', description: 'The name to resolve: `shop.internal` (A/AAAA) or `_http._tcp.shop.internal` (SRV).' }),
      type: Type.Optional(
        Type.Union([Type.Literal('A'), Type.Literal('AAAA'), Type.Literal('A+AAAA'), Type.Literal('SRV')], {
          default: 'A',
          description: '`A` (IPv4), `AAAA` (IPv6), `A+AAAA` (both), or `SRV` (host, port and weight per record; the hosts are resolved to addresses).',
        }),
      ),
      port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'The port of the targets (A/AAAA records carry none; SRV records carry their own).' })),
      servers: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: "Resolvers to ask, `ip` or `ip:port` (`[::1]:53` for IPv6 with a port); default: the system's." })),
      minTtl: Type.Optional(Duration('The answer is resolved again after its TTL, but never sooner than this (a TTL of 0 would resolve in a loop); also the retry delay after a failure.', '1s')),
      maxTtl: Type.Optional(Duration('… and never later than this, whatever the TTL says.', '60s')),
      timeout: Type.Optional(Duration('How long one resolution may take.', '2s')),
    },
    'DNS: the targets are the addresses a name resolves to, resolved again when the answer’s TTL runs out (within `minTtl`..`maxTtl`). When resolution fails, the last good answer stays.',
  ),
  normalize(check, at, raw): DnsDiscoveryConfig {
    const type = raw.type ?? 'A';
    if (type !== 'SRV' && raw.port === undefined) check.problem([...at, 'port'], `A and AAAA records carry no port: set discovery.dns.port (the port the targets listen on)`, 'key');
    if (type === 'SRV' && raw.port !== undefined) check.warn([...at, 'port'], 'SRV records carry their own port; port is not used', 'key');
    const servers = (raw.servers ?? []).map((s, i) => {
      const host = s.startsWith('[') ? s.slice(1, s.indexOf(']')) : s.split(':').length === 2 ? s.split(':')[0]! : s;
      if (isIP(host) === 0) check.problem([...at, 'servers', i], `a resolver is an IP address with an optional port (10.0.0.2, 10.0.0.2:5353, [fd00::2]:53), not ${JSON.stringify(s)}`);
      return s;
    });
    const minTtlMs = check.duration([...at, 'minTtl'], raw.minTtl, 1000);
    const maxTtlMs = check.duration([...at, 'maxTtl'], raw.maxTtl, 60_000);
    if (minTtlMs < 100) check.problem([...at, 'minTtl'], 'a minTtl under 100ms would resolve in a loop');
    if (maxTtlMs < minTtlMs) check.problem([...at, 'maxTtl'], 'maxTtl must not be shorter than minTtl');
    return { kind: 'dns', name: raw.name, type, port: type === 'SRV' ? null : (raw.port ?? null), servers, minTtlMs, maxTtlMs, timeoutMs: check.duration([...at, 'timeout'], raw.timeout, 2000) };
  },
  identity: (c) => `dns ${c.type} ${c.name}${c.port === null ? '' : `:${c.port}`}`,
  load: () => import('../dns.js'),
});
