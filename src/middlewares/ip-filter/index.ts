/**
 * The `ipFilter` middleware: allow and deny lists of client address ranges. node's
 * BlockList does the prefix matching for both families.
 */
import { BlockList, isIP } from 'node:net';
import type { Answer, Middleware, RequestContext } from '../../core/middleware.js';
import type { Logger } from '../../observability/logger.js';
import { mappedIPv4, type IpFilterConfig, type IpRange } from './schema.js';

export { IpFilterSchema, normalizeIpFilter, type IpFilterConfig, type RawIpFilter } from './schema.js';

/**
 * Builds the `ipFilter` middleware of a route. Synchronous: it never costs a promise.
 * A client address that does not parse matches no range: refused when there is an
 * `allow` list (fail closed), let through when there is only `deny`.
 *
 * @example
 * const filter = createIpFilter({ allow: null, deny: [{ address: '203.0.113.0', prefix: 24, family: 'ipv4' }] }, { logger });
 * filter.handle(ctx); // null, or a 403 answer
 */
export function createIpFilter(config: IpFilterConfig, deps: { readonly logger: Logger }): Middleware {
  const allow = config.allow === null ? null : blockList(config.allow);
  const deny = blockList(config.deny);
  const denyEmpty = config.deny.length === 0;
  const { logger } = deps;
  return {
    name: 'ipFilter',
    handle(ctx: RequestContext): Answer | null {
      const client = normalizeClient(ctx.clientIp);
      const inDeny = !denyEmpty && client !== null && deny.check(client.address, client.family);
      const inAllow = allow === null || (client !== null && allow.check(client.address, client.family));
      if (!inDeny && inAllow) return null;
      logger.debug({ requestId: ctx.requestId, route: ctx.routeName, clientIp: ctx.clientIp, reason: inDeny ? 'deny' : 'not in allow' }, 'client address refused');
      return { status: 403, code: 'BRISK_FORBIDDEN', message: `client address ${ctx.clientIp || '(unknown)'} is not allowed on this route` };
    },
  };
}

function blockList(ranges: readonly IpRange[]): BlockList {
  const list = new BlockList();
  for (const r of ranges) {
    if ((r.family === 'ipv4' && r.prefix === 32) || (r.family === 'ipv6' && r.prefix === 128)) list.addAddress(r.address, r.family);
    else list.addSubnet(r.address, r.prefix, r.family);
  }
  return list;
}

/** The client as BlockList checks it: IPv4-mapped IPv6 unmapped, zone ids refused. */
function normalizeClient(ip: string): { address: string; family: 'ipv4' | 'ipv6' } | null {
  const family = isIP(ip);
  if (family === 4) return { address: ip, family: 'ipv4' };
  if (family !== 6 || ip.includes('%')) return null;
  const v4 = mappedIPv4(ip);
  return v4 === undefined ? { address: ip, family: 'ipv6' } : { address: v4, family: 'ipv4' };
}
