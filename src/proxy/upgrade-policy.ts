/**
 * Which `Upgrade` requests become tunnels. A tunnel is a pair of piped sockets: once it is
 * open, every byte the client sends reaches the target unseen by routing, auth and rate
 * limits. So only the protocols a route names in `upgrades` (WebSocket by default) are
 * tunnelled, and `h2c` never is.
 *
 * The policy, decided once here:
 *
 * | request                                                    | answer                                    |
 * |------------------------------------------------------------|-------------------------------------------|
 * | offers `h2c`, carries `HTTP2-Settings`, or is HTTP/1.0     | read again as a plain HTTP/1.1 request (the upgrade is ignored) |
 * | offers a protocol in the route's `upgrades`                | tunnelled (only the allowed protocols are offered to the target) |
 * | offers only protocols the route does not allow            | 403 `BRISK_UPGRADE_NOT_ALLOWED`, connection closed |
 * | would be tunnelled but carries a body                      | 400 `BRISK_BAD_REQUEST`, connection closed |
 *
 * Why ignore `h2c` but refuse the rest (the same split as Envoy, which strips h2c upgrade
 * headers and answers 403 to upgrades no route is configured for): RFC 9110 §7.8 lets a
 * server ignore `Upgrade`, and `h2c` is an opportunistic offer clients make on any request
 * (curl `--http2` on an `http://` URL) and must be ready to see declined (RFC 9113 §3.1
 * deprecates it). Ignoring it keeps those clients working, with the route's whole pipeline
 * and keep-alive. Any other protocol is asked for because the client needs the tunnel
 * (a WebSocket client cannot use a plain answer); a clear 403 that names the route and
 * the key to change beats a plain request the target answers in some confusing way.
 * An HTTP/1.0 request's `Upgrade` must be ignored (RFC 9110 §7.8).
 */
import type { IncomingMessage } from 'node:http';

/** The protocol names an `Upgrade` value offers, lower-cased, versions (`/1.1`) dropped. */
export function offeredProtocols(value: string | undefined): string[] {
  if (value === undefined) return [];
  const names: string[] = [];
  for (const item of value.split(',')) {
    const name = item.trim().split('/')[0]!.trim().toLowerCase();
    if (name !== '') names.push(name);
  }
  return names;
}

/**
 * Why an upgrade request is read as a plain request instead (see the table above), or
 * null when it may be tunnelled if its route allows it.
 */
export function ignoredUpgrade(req: IncomingMessage): string | null {
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) return 'HTTP/1.0';
  if (req.headers['http2-settings'] !== undefined) return 'HTTP2-Settings';
  if (offeredProtocols(req.headers.upgrade).includes('h2c')) return 'h2c';
  return null;
}

/**
 * The subset of the client's `Upgrade` offer the route allows, in the client's spelling
 * and order, ready to be the `Upgrade` value sent to the target; '' when none is allowed.
 */
export function allowedOffer(value: string | undefined, allowed: readonly string[]): string {
  if (value === undefined) return '';
  const kept: string[] = [];
  for (const item of value.split(',')) {
    const trimmed = item.trim();
    const name = trimmed.split('/')[0]!.trim().toLowerCase();
    if (name !== '' && allowed.includes(name)) kept.push(trimmed);
  }
  return kept.join(', ');
}

/** Request headers dropped when an upgrade request is read again as a plain request. */
const UPGRADE_HEADERS = new Set(['upgrade', 'http2-settings']);

/**
 * The request head as the client sent it, minus `Upgrade` and `HTTP2-Settings`: the bytes
 * the HTTP server reads again to serve the request as a plain one. Without `Upgrade` the
 * parser does not take it for an upgrade (it needs both that header and the `upgrade`
 * token in `Connection`, which may stay: the proxy drops what `Connection` names). Node's
 * parser has validated every name and value, so writing them back cannot frame anything new.
 */
export function plainRequestHead(req: IncomingMessage): Buffer {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (!UPGRADE_HEADERS.has(raw[i]!.toLowerCase())) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return Buffer.from(`${head}\r\n`, 'latin1');
}
