/**
 * Checks for the network-shaped strings in the configuration: listen addresses, trusted
 * proxy ranges, host patterns, header names. Each returns a reason rather than a
 * boolean so that the loader can say what is wrong.
 */
import { isIP } from 'node:net';

/** A listen address split into what `server.listen()` takes. */
export interface HostPort {
  /** IPv6 without brackets (`::1`); `0.0.0.0` when only a port was given. */
  readonly host: string;
  /** 0 asks the system for any free port (used by tests). */
  readonly port: number;
}

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/i;

/**
 * Parses `HOST:PORT`, `[IPv6]:PORT`, `:PORT` or a bare `PORT`. A bare port (or an empty
 * host) means every IPv4 interface, `0.0.0.0`, like most servers; write `[::]:PORT` for
 * IPv6 as well.
 *
 * @example
 * parseAddress('[::1]:8080') // { ok: true, value: { host: '::1', port: 8080 } }
 * parseAddress('8080')       // { ok: true, value: { host: '0.0.0.0', port: 8080 } }
 */
export function parseAddress(address: string): { ok: true; value: HostPort } | { ok: false; reason: string } {
  const text = address.trim();
  let host: string;
  let portText: string;
  if (/^\d+$/.test(text)) {
    host = '';
    portText = text;
  } else if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1 || text[close + 1] !== ':') return { ok: false, reason: 'expected "[IPv6]:PORT", such as "[::1]:8080"' };
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (isIP(host) !== 6) return { ok: false, reason: `${JSON.stringify(host)} is not an IPv6 address` };
  } else {
    const colon = text.lastIndexOf(':');
    if (colon === -1) return { ok: false, reason: 'expected "HOST:PORT" (such as "127.0.0.1:8080") or a port' };
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return { ok: false, reason: 'an IPv6 address needs brackets: "[::1]:8080"' };
    if (host !== '' && isIP(host) === 0 && !HOSTNAME.test(host)) return { ok: false, reason: `${JSON.stringify(host)} is not a valid host` };
  }
  if (!/^\d{1,5}$/.test(portText)) return { ok: false, reason: `port ${JSON.stringify(portText)} is not a number` };
  const port = Number(portText);
  if (port > 65535) return { ok: false, reason: `port ${port} is out of range (1-65535, or 0 for any free port)` };
  return { ok: true, value: { host: host === '' ? '0.0.0.0' : host.toLowerCase(), port } };
}

/** True for hosts that mean "every interface". */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/**
 * Whether two listen addresses would fight over the same socket: same port and the same
 * host, or either binding every interface. Port 0 never conflicts (each gets its own).
 */
export function addressesOverlap(a: HostPort, b: HostPort): boolean {
  if (a.port === 0 || b.port === 0 || a.port !== b.port) return false;
  return a.host === b.host || isWildcardHost(a.host) || isWildcardHost(b.host);
}

/** `undefined` when `value` is an IP address or CIDR range (IPv4 or IPv6), the reason otherwise. */
export function ipOrCidrProblem(value: string): string | undefined {
  const slash = value.indexOf('/');
  const ip = slash === -1 ? value : value.slice(0, slash);
  // Zone ids (fe80::1%eth0) pass isIP but mean nothing in a range check.
  const family = ip.includes('%') ? 0 : isIP(ip);
  if (family === 0) return `${JSON.stringify(value)} is not an IP address or CIDR range (such as "10.0.0.0/8" or "::1")`;
  if (slash === -1) return undefined;
  const bits = value.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `${JSON.stringify(value)} has an invalid prefix length (0-${max})`;
  return undefined;
}

/**
 * `undefined` when `pattern` is a host name, an IP address, or `*.` followed by a host
 * name; the reason otherwise. Host patterns carry no port.
 */
export function hostPatternProblem(pattern: string): string | undefined {
  const name = pattern.startsWith('*.') ? pattern.slice(2) : pattern;
  if (name.includes('*')) return `${JSON.stringify(pattern)}: only a leading "*." wildcard is allowed, such as "*.example.com"`;
  if (pattern.startsWith('*.') && isIP(name) !== 0) return `${JSON.stringify(pattern)}: a wildcard needs a domain name, not an IP address`;
  if (isIP(name) !== 0) return undefined;
  if (name.startsWith('[') && name.endsWith(']') && isIP(name.slice(1, -1)) === 6) return undefined;
  if (/:\d+$/.test(name)) return `${JSON.stringify(pattern)}: leave out the port (the request's port is ignored when matching)`;
  if (!HOSTNAME.test(name)) return `${JSON.stringify(pattern)} is not a valid host name`;
  return undefined;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Whether `name` is a valid HTTP header name (an RFC 9110 token). */
export function isHeaderName(name: string): boolean {
  return TOKEN.test(name);
}

/**
 * Whether `value` can be sent as a header value. CR, LF and NUL would make Node throw
 * when the header is set (or, worse elsewhere, split the message), so they are refused
 * at load time rather than on the first request.
 */
export function isHeaderValue(value: string): boolean {
  return !/[\r\n\0]/.test(value);
}
