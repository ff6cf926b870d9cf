/**
 * A Structured Field Dictionary parser (RFC 9651, which obsoletes RFC 8941, §4.2.2), for
 * the targeted cache-control fields (RFC 9213: `CDN-Cache-Control` and the like are
 * Dictionaries, and "if a parsing error is encountered, that field MUST be ignored").
 *
 * Written by hand rather than with `structured-headers`: the cache needs only the
 * Dictionary and the bare-item types, reads it for every response with a targeted field,
 * and wants "invalid" as a value rather than a thrown exception; this file is about 150
 * lines, follows the RFC's parsing algorithms step by step, and is unit-tested against
 * the RFC's rules next to it.
 */

/**
 * A bare item (RFC 9651 §3.3): an Integer is a number, a String a string, a Boolean a
 * boolean; Decimals, Tokens, Byte Sequences, Dates and Display Strings are tagged, so a
 * consumer can tell `max-age=10` from `max-age=10.0` or `max-age="10"`.
 */
export type BareItem = number | string | boolean | { readonly decimal: number } | { readonly token: string } | { readonly bytes: string } | { readonly date: number } | { readonly display: string };

/** A Dictionary member's value: an item or an inner list (parameters are parsed and dropped: RFC 9213 ignores them). */
export type MemberValue = BareItem | { readonly inner: readonly BareItem[] };

/** Thrown inside the parser only; `parseDictionary` turns it into null. */
class Invalid extends Error {}

/**
 * Parses a Dictionary field value (several field lines joined with `,`). Null when the
 * value is not a valid Dictionary; a key given twice keeps its last value (§4.2.2).
 *
 * @example
 * parseDictionary('max-age=60, private')    // Map { 'max-age' → 60, 'private' → true }
 * parseDictionary('max-age=60, &&&')        // null
 */
export function parseDictionary(input: string): Map<string, MemberValue> | null {
  const p = new Parser(input);
  try {
    return p.dictionary();
  } catch (err) {
    if (err instanceof Invalid) return null;
    throw err;
  }
}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isLcAlpha = (c: string | undefined) => c !== undefined && c >= 'a' && c <= 'z';
const isAlpha = (c: string | undefined) => c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
/** RFC 9110 tchar, plus ':' and '/' (RFC 9651 §3.3.4). */
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z:/]/;
const BASE64_CHAR = /[A-Za-z0-9+/=]/;

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  private fail(): never {
    throw new Invalid();
  }

  private skipSp(): void {
    while (this.s[this.i] === ' ') this.i++;
  }

  private skipOws(): void {
    while (this.s[this.i] === ' ' || this.s[this.i] === '\t') this.i++;
  }

  /** §4.2: leading and trailing spaces are discarded; anything left over is an error. */
  dictionary(): Map<string, MemberValue> {
    const out = new Map<string, MemberValue>();
    this.skipSp();
    const s = this.s;
    while (this.i < s.length) {
      const key = this.key();
      let value: MemberValue;
      if (s[this.i] === '=') {
        this.i++;
        value = this.itemOrInnerList();
      } else {
        value = true;
        this.parameters();
      }
      out.set(key, value);
      this.skipOws();
      if (this.i >= s.length) break;
      if (s[this.i] !== ',') this.fail();
      this.i++;
      this.skipOws();
      if (this.i >= s.length) this.fail(); // a trailing comma
    }
    return out;
  }

  private itemOrInnerList(): MemberValue {
    if (this.s[this.i] !== '(') {
      const item = this.bareItem();
      this.parameters();
      return item;
    }
    this.i++;
    const inner: BareItem[] = [];
    for (;;) {
      this.skipSp();
      if (this.s[this.i] === ')') {
        this.i++;
        this.parameters();
        return { inner };
      }
      inner.push(this.bareItem());
      this.parameters();
      const c = this.s[this.i];
      if (c !== ' ' && c !== ')') this.fail();
    }
  }

  private parameters(): void {
    while (this.s[this.i] === ';') {
      this.i++;
      this.skipSp();
      this.key();
      if (this.s[this.i] === '=') {
        this.i++;
        this.bareItem();
      }
    }
  }

  private key(): string {
    const s = this.s;
    const start = this.i;
    if (!isLcAlpha(s[this.i]) && s[this.i] !== '*') this.fail();
    this.i++;
    while (this.i < s.length && (isLcAlpha(s[this.i]) || isDigit(s[this.i]) || '_-.*'.includes(s[this.i]!))) this.i++;
    return s.slice(start, this.i);
  }

  private bareItem(): BareItem {
    const c = this.s[this.i];
    if (c === '-' || isDigit(c)) return this.number();
    if (c === '"') return this.string();
    if (c === '*' || isAlpha(c)) return { token: this.token() };
    if (c === ':') return { bytes: this.bytes() };
    if (c === '?') return this.boolean();
    if (c === '@') {
      this.i++;
      const n = this.number();
      if (typeof n !== 'number') this.fail();
      return { date: n };
    }
    if (c === '%') return { display: this.displayString() };
    return this.fail();
  }

  /** §4.2.4: at most 15 integer digits; a decimal has at most 12 before and 1–3 after the point. */
  private number(): number | { readonly decimal: number } {
    const s = this.s;
    const start = this.i;
    if (s[this.i] === '-') this.i++;
    const digitsStart = this.i;
    if (!isDigit(s[this.i])) this.fail();
    while (isDigit(s[this.i])) this.i++;
    const intDigits = this.i - digitsStart;
    if (s[this.i] !== '.') {
      if (intDigits > 15) this.fail();
      return Number(s.slice(start, this.i));
    }
    if (intDigits > 12) this.fail();
    this.i++;
    const fracStart = this.i;
    while (isDigit(s[this.i])) this.i++;
    const fracDigits = this.i - fracStart;
    if (fracDigits < 1 || fracDigits > 3) this.fail();
    return { decimal: Number(s.slice(start, this.i)) };
  }

  /** §4.2.5: printable ASCII; only `\"` and `\\` are escapes. */
  private string(): string {
    const s = this.s;
    this.i++;
    let out = '';
    for (;;) {
      const c = s[this.i++];
      if (c === undefined) this.fail();
      if (c === '"') return out;
      if (c === '\\') {
        const next = s[this.i++];
        if (next !== '"' && next !== '\\') this.fail();
        out += next;
        continue;
      }
      const code = c.charCodeAt(0);
      if (code < 0x20 || code > 0x7e) this.fail();
      out += c;
    }
  }

  private token(): string {
    const s = this.s;
    const start = this.i++;
    while (this.i < s.length && TOKEN_CHAR.test(s[this.i]!)) this.i++;
    return s.slice(start, this.i);
  }

  private bytes(): string {
    const s = this.s;
    const start = ++this.i;
    while (this.i < s.length && BASE64_CHAR.test(s[this.i]!)) this.i++;
    if (s[this.i] !== ':') this.fail();
    return s.slice(start, this.i++);
  }

  private boolean(): boolean {
    const c = this.s[this.i + 1];
    if (c !== '0' && c !== '1') this.fail();
    this.i += 2;
    return c === '1';
  }

  /** §4.2.10: `%"…"` with lower-case %xx escapes of UTF-8 bytes. */
  private displayString(): string {
    const s = this.s;
    if (s[this.i + 1] !== '"') this.fail();
    this.i += 2;
    const bytes: number[] = [];
    for (;;) {
      const c = s[this.i++];
      if (c === undefined) this.fail();
      if (c === '"') break;
      const code = c.charCodeAt(0);
      if (code < 0x20 || code > 0x7e) this.fail();
      if (c !== '%') {
        bytes.push(code);
        continue;
      }
      const hex = s.slice(this.i, this.i + 2);
      if (!/^[0-9a-f]{2}$/.test(hex)) this.fail();
      bytes.push(parseInt(hex, 16));
      this.i += 2;
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes));
    } catch {
      return this.fail();
    }
  }
}
