import { BlockList, isIPv4, isIPv6 } from 'node:net';

/**
 * Which peers may speak for the client (X-Forwarded-For, Forwarded). Built once per config
 * version from addresses and CIDR ranges; node's BlockList does the prefix matching for
 * both address families.
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const slash = entry.indexOf('/');
      const addr = slash === -1 ? entry : entry.slice(0, slash);
      const family = isIPv6(addr) ? 'ipv6' : 'ipv4';
      if (slash === -1) this.list.addAddress(addr, family);
      else this.list.addSubnet(addr, Number(entry.slice(slash + 1)), family);
    }
    this.empty = entries.length === 0;
  }

  /** True when `ip` (as node reports a socket's remote address) is trusted. */
  trusts(ip: string | undefined): boolean {
    if (this.empty || ip === undefined) return false;
    const plain = unmapIPv4(ip);
    if (isIPv4(plain)) return this.list.check(plain, 'ipv4');
    return isIPv6(plain) && this.list.check(plain, 'ipv6');
  }
}

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack socket) → `10.0.0.1`. */
export function unmapIPv4(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
