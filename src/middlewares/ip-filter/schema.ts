/**
 * The route key `ipFilter`: its schema and normaliser.
 */
import { isIP } from 'node:net';
import { Type, type Static } from '../../config/type-builder.js';
import { ipOrCidrProblem } from '../../config/addresses.js';
import type { PathProblem } from '../../config/positions.js';

const Ranges = (description: string) =>
  Type.Array(Type.String({ minLength: 1 }), {
    description: `${description} Addresses or CIDR ranges, IPv4 or IPv6 (\`10.0.0.0/8\`, \`2001:db8::/32\`, \`192.0.2.7\`).`,
  });

/** The schema of the route key `ipFilter`. */
export const IpFilterSchema = Type.Object(
  {
    allow: Type.Optional(Ranges('When given, only clients in these ranges are let through.')),
    deny: Type.Optional(Ranges('Clients in these ranges are refused, even when `allow` also lists them.')),
  },
  {
    additionalProperties: false,
    description:
      'Client address filter: 403 for addresses outside `allow` or inside `deny` (deny wins). The client address is the peer, or the `X-Forwarded-For` client when the peer is one of `proxy.trustedProxies`. IPv4 clients on a dual-stack socket (`::ffff:10.1.2.3`) match IPv4 ranges.',
  },
);

/** `ipFilter` as written in the file. */
export type RawIpFilter = Static<typeof IpFilterSchema>;

/** One range in the form node's BlockList takes. */
export interface IpRange {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** The runtime `ipFilter` of a route. */
export interface IpFilterConfig {
  /** Null: every address is allowed unless denied. */
  readonly allow: readonly IpRange[] | null;
  readonly deny: readonly IpRange[];
}

/**
 * Checks and normalises a schema-valid `ipFilter`. Paths of problems are relative to the
 * `ipFilter` key. `baseDir` is unused (no files) and taken for a uniform signature.
 *
 * @example
 * const { config, problems } = normalizeIpFilter({ allow: ['10.0.0.0/8'], deny: ['10.6.6.0/24'] }, baseDir);
 */
export function normalizeIpFilter(raw: RawIpFilter, _baseDir?: string): { config?: IpFilterConfig; problems: PathProblem[]; warnings: PathProblem[] } {
  const problems: PathProblem[] = [];
  const warnings: PathProblem[] = [];
  const ranges = (key: 'allow' | 'deny'): IpRange[] =>
    (raw[key] ?? []).flatMap((text, i): IpRange[] => {
      const value = text.trim();
      const problem = ipOrCidrProblem(value);
      if (problem !== undefined) {
        problems.push({ path: [key, i], message: problem });
        return [];
      }
      const range = toRange(value);
      if (range.hostBits) warnings.push({ path: [key, i], message: `${JSON.stringify(value)} has host bits set; it means ${range.address}/${range.prefix}` });
      return [range];
    });
  if (raw.allow === undefined && (raw.deny === undefined || raw.deny.length === 0)) problems.push({ path: [], message: 'ipFilter needs `allow` or `deny`' });
  if (raw.allow !== undefined && raw.allow.length === 0) problems.push({ path: ['allow'], message: 'an empty `allow` list refuses every client; remove the route or list the allowed ranges' });
  const allow = raw.allow === undefined ? null : ranges('allow');
  const deny = ranges('deny');
  if (problems.length > 0) return { problems, warnings };
  return { config: { allow, deny }, problems, warnings };
}

/**
 * A validated address or CIDR as a BlockList range. IPv4-mapped IPv6 ranges
 * (`::ffff:10.0.0.0/104`) become their IPv4 range, because clients are matched by their
 * unmapped IPv4 address.
 */
function toRange(value: string): IpRange & { hostBits: boolean } {
  const slash = value.indexOf('/');
  let address = slash === -1 ? value : value.slice(0, slash);
  let family: 'ipv4' | 'ipv6' = isIP(address) === 4 ? 'ipv4' : 'ipv6';
  let prefix = slash === -1 ? (family === 'ipv4' ? 32 : 128) : Number(value.slice(slash + 1));
  const mapped = family === 'ipv6' ? mappedIPv4(address) : undefined;
  if (mapped !== undefined && prefix >= 96) {
    address = mapped;
    family = 'ipv4';
    prefix -= 96;
  }
  return { address: address.toLowerCase(), prefix, family, hostBits: hasHostBits(address, prefix, family) };
}

/** `::ffff:10.1.2.3` or `::ffff:a01:203` → `10.1.2.3`; undefined when not IPv4-mapped. */
export function mappedIPv4(ip: string): string | undefined {
  const lower = ip.toLowerCase();
  if (!lower.startsWith('::ffff:')) return undefined;
  const rest = lower.slice(7);
  if (isIP(rest) === 4) return rest;
  const m = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(rest);
  if (m === null) return undefined;
  const hi = parseInt(m[1]!, 16);
  const lo = parseInt(m[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

function hasHostBits(address: string, prefix: number, family: 'ipv4' | 'ipv6'): boolean {
  if (family === 'ipv4') {
    const n = address.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
    const hostBits = 32 - prefix;
    return hostBits > 0 && n % 2 ** hostBits !== 0;
  }
  return false;
}
