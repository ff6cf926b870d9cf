/**
 * Content negotiation for compression: which coding a client accepts (RFC 9110 §12.5.3,
 * `Accept-Encoding` with q-values) and which content types a route compresses. Written by
 * hand: `negotiator` allocates per call and has no notion of the server's own preference
 * among codings of equal `q`; the grammar is a few lines.
 */
import type { Encoding } from './schema.js';

/**
 * The coding to use: among `offered` (in the server's order of preference), the one the
 * client gives the highest `q`; ties go to the earlier in `offered`. Null when the client
 * accepts none of them, or sent no `Accept-Encoding` (then it may not be able to decode:
 * RFC 9110 allows any coding, but no server relies on it, and neither does Brisk).
 *
 * @example
 * negotiate('gzip, br;q=0.9, *;q=0.1', ['zstd', 'br', 'gzip']) // 'gzip'
 * negotiate('br;q=0, *', ['br', 'gzip'])                         // 'gzip'
 */
export function negotiate(acceptEncoding: string | undefined, offered: readonly Encoding[]): Encoding | null {
  if (acceptEncoding === undefined) return null;
  let star = -1;
  // q of each offered coding the client named; -1: not named.
  const named = new Array<number>(offered.length).fill(-1);
  for (const part of acceptEncoding.split(',')) {
    const semi = part.indexOf(';');
    let coding = (semi === -1 ? part : part.slice(0, semi)).trim().toLowerCase();
    if (coding === '') continue;
    if (coding === 'x-gzip') coding = 'gzip';
    const q = semi === -1 ? 1 : qValue(part.slice(semi + 1));
    if (coding === '*') star = Math.max(star, q);
    else {
      const i = offered.indexOf(coding as Encoding);
      if (i !== -1) named[i] = Math.max(named[i]!, q);
    }
  }
  let best: Encoding | null = null;
  let bestQ = 0;
  for (let i = 0; i < offered.length; i++) {
    const q = named[i] !== -1 ? named[i]! : star;
    if (q > bestQ) {
      best = offered[i]!;
      bestQ = q;
    }
  }
  return best;
}

/** The `q` parameter of a list member's parameters (`q=0.5; x=y`); 1 when absent, 0 when invalid. */
function qValue(params: string): number {
  for (const p of params.split(';')) {
    const eq = p.indexOf('=');
    if (eq === -1 || p.slice(0, eq).trim().toLowerCase() !== 'q') continue;
    const text = p.slice(eq + 1).trim();
    // RFC 9110 §12.4.2: "0" to "1" with at most three decimals.
    if (!/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(text)) return 0;
    return Number(text);
  }
  return 1;
}

/** Decides whether a `Content-Type` is one of a route's media ranges; built once per route. */
export class TypeMatcher {
  private readonly exact = new Set<string>();
  /** `text/` for `text/*`. */
  private readonly anySubtype: string[] = [];
  /** `[application/, +json]` for `application/*+json`. */
  private readonly suffixed: Array<readonly [string, string]> = [];

  constructor(types: readonly string[]) {
    for (const t of types) {
      const slash = t.indexOf('/');
      const sub = t.slice(slash + 1);
      if (sub === '*') this.anySubtype.push(t.slice(0, slash + 1));
      else if (sub.startsWith('*+')) this.suffixed.push([t.slice(0, slash + 1), sub.slice(1)]);
      else this.exact.add(t);
    }
  }

  /** True when `contentType` (parameters allowed, any case) is one of the ranges. */
  matches(contentType: string | undefined): boolean {
    if (contentType === undefined) return false;
    const semi = contentType.indexOf(';');
    const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
    if (this.exact.has(type)) return true;
    for (const prefix of this.anySubtype) if (type.startsWith(prefix)) return true;
    for (const [prefix, suffix] of this.suffixed) if (type.startsWith(prefix) && type.endsWith(suffix)) return true;
    return false;
  }
}
