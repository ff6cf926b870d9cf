/**
 * PostgreSQL log sequence numbers (`X/Y` text, two 32-bit hex halves) as bigints, and the
 * read-your-writes token built on them. A token is the primary's WAL insert position
 * read right after a write committed: a replica whose replay position is at or past it
 * has applied that write. LSNs keep growing across a promotion (the new timeline starts
 * where the old one stopped), so a token stays comparable after a failover.
 */

/** Parses `16/B374D848` into a bigint; undefined for anything else. */
export function parseLsn(text: string | null | undefined): bigint | undefined {
  if (typeof text !== 'string') return undefined;
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (match === null) return undefined;
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Formats a bigint LSN as PostgreSQL prints it. */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/**
 * A read-your-writes token: opaque to callers (carry it in a cookie, a header such as
 * `x-brisk-read-after`, or the session), text so it survives JSON. Format: `lsn:X/Y`.
 */
export type ReadToken = string & { readonly __readToken: unique symbol };

export function tokenFromLsn(lsn: bigint): ReadToken {
  return `lsn:${formatLsn(lsn)}` as ReadToken;
}

/** The LSN of a token, or undefined when the text is not a token (ignored, not trusted). */
export function lsnFromToken(token: string | undefined | null): bigint | undefined {
  if (typeof token !== 'string' || !token.startsWith('lsn:')) return undefined;
  return parseLsn(token.slice(4));
}

/** The later of two tokens (a session keeps the newest of its writes). */
export function laterToken(a: ReadToken | undefined, b: ReadToken | undefined): ReadToken | undefined {
  const la = lsnFromToken(a);
  const lb = lsnFromToken(b);
  if (la === undefined) return b;
  if (lb === undefined) return a;
  return la >= lb ? a : b;
}
