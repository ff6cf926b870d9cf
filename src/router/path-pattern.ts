/**
 * Path patterns (`/users/:id/files/*`), parsed once and matched by walking the path string
 * in place: no split(), no allocation unless the caller asks for the parameter values.
 *
 * Written by hand rather than with path-to-regexp & co. because the hot path needs a
 * matcher that allocates nothing on failure and exposes its specificity for ordering,
 * and because segment-at-a-time matching cannot backtrack (no ReDoS from our patterns).
 */

import type { RouteParams } from './types.js';

const SLASH = 47; // '/'

/** Parameter names: letters, digits and `_` (so `:id.json` is rejected, not half-parsed). */
export const PARAM_NAME = /^[A-Za-z0-9_]+$/;

/** A parsed path with at least one `:param` segment or a trailing `*` segment. */
export class PathPattern {
  /** The pattern as written in the config. */
  readonly source: string;
  /** Fixed segments (the trailing `*` excluded): the literal text, or `null` for a parameter. */
  private readonly literals: readonly (string | null)[];
  /** True when the pattern ends with a `*` segment (zero or more further segments). */
  readonly hasRest: boolean;
  /** Parameter names in path order; `*` last when `hasRest`. */
  readonly paramNames: readonly string[];
  /** Number of literal segments: the first ordering key (more is more specific). */
  readonly staticCount: number;
  /** Number of fixed segments (params and literals, not `*`): the second ordering key. */
  readonly fixedCount: number;
  /**
   * One char per fixed segment, '0' literal and '1' parameter. Compared as a string it
   * breaks ties left to right: `/a/:x` sorts before `/:y/b`, as a reader would expect.
   */
  readonly shape: string;
  /** Start/end offsets of each parameter of the last successful `test()`; reused, never reallocated. */
  private readonly offsets: Int32Array;

  private constructor(source: string, literals: (string | null)[], hasRest: boolean, paramNames: string[]) {
    this.source = source;
    this.literals = literals;
    this.hasRest = hasRest;
    this.paramNames = paramNames;
    let statics = 0;
    let shape = '';
    for (const lit of literals) {
      if (lit !== null) statics++;
      shape += lit === null ? '1' : '0';
    }
    this.staticCount = statics;
    this.fixedCount = literals.length;
    this.shape = shape;
    this.offsets = new Int32Array(paramNames.length * 2);
  }

  /**
   * Parses `path`. Returns `null` when it is a plain exact path (no parameter, no `*`);
   * throws an `Error` with a readable message when the pattern is malformed.
   */
  static parse(path: string): PathPattern | null {
    const parts = path.split('/');
    // parts[0] is the text before the leading '/', always '' for a valid config path.
    const literals: (string | null)[] = [];
    const names: string[] = [];
    let hasRest = false;
    for (let i = 1; i < parts.length; i++) {
      const part = parts[i]!;
      if (part === '*') {
        if (i !== parts.length - 1) throw new Error(`"*" may only be the last segment of path "${path}"`);
        hasRest = true;
        names.push('*');
      } else if (part.startsWith(':')) {
        const name = part.slice(1);
        if (!PARAM_NAME.test(name)) {
          throw new Error(`bad parameter segment "${part}" in path "${path}": a parameter is a whole segment ":name" (letters, digits, _)`);
        }
        if (name === '__proto__') throw new Error(`parameter name "__proto__" is reserved (path "${path}")`);
        if (names.includes(name)) throw new Error(`parameter ":${name}" appears twice in path "${path}"`);
        literals.push(null);
        names.push(name);
      } else {
        literals.push(part);
      }
    }
    if (names.length === 0) return null;
    return new PathPattern(path, literals, hasRest, names);
  }

  /** The literal the first segment must be, or `null` when it is a parameter or `*`. */
  get firstLiteral(): string | null {
    return this.literals.length === 0 ? null : this.literals[0]!;
  }

  /**
   * True when `path` matches; the parameter offsets are then kept until the next call.
   * Parameters match one non-empty segment; `*` matches the rest, possibly empty
   * (`/files/*` takes `/files`, `/files/` and `/files/a/b`).
   */
  test(path: string): boolean {
    const literals = this.literals;
    const offsets = this.offsets;
    const n = path.length;
    let pos = 0;
    let p = 0;
    for (let i = 0; i < literals.length; i++) {
      if (pos >= n || path.charCodeAt(pos) !== SLASH) return false;
      pos++;
      const lit = literals[i]!;
      if (lit !== null) {
        if (!regionEquals(path, pos, lit)) return false;
        const end = pos + lit.length;
        if (end !== n && path.charCodeAt(end) !== SLASH) return false;
        pos = end;
      } else {
        let end = path.indexOf('/', pos);
        if (end === -1) end = n;
        if (end === pos) return false;
        offsets[p++] = pos;
        offsets[p++] = end;
        pos = end;
      }
    }
    if (!this.hasRest) return pos === n;
    if (pos === n) {
      offsets[p] = n;
      offsets[p + 1] = n;
      return true;
    }
    if (path.charCodeAt(pos) !== SLASH) return false;
    offsets[p] = pos + 1;
    offsets[p + 1] = n;
    return true;
  }

  /** Parameters of the last successful `test(path)`, percent-decoded. */
  params(path: string): RouteParams {
    const names = this.paramNames;
    const offsets = this.offsets;
    const out: RouteParams = {};
    for (let i = 0; i < names.length; i++) {
      out[names[i]!] = decodeParam(path.slice(offsets[2 * i]!, offsets[2 * i + 1]!));
    }
    return out;
  }

  /** Parameters of the last successful `test(path)`, as received (still percent-encoded). */
  rawParams(path: string): RouteParams {
    const names = this.paramNames;
    const offsets = this.offsets;
    const out: RouteParams = {};
    for (let i = 0; i < names.length; i++) {
      out[names[i]!] = path.slice(offsets[2 * i]!, offsets[2 * i + 1]!);
    }
    return out;
  }
}

/**
 * `s.startsWith(part, pos)`, compared last character first. An inlined loop is several
 * times cheaper than the startsWith builtin for short strings, and route prefixes of one
 * service (`/api/v1`, `/api/v2`) differ at the end, so a mismatch shows on the first compare.
 */
export function regionEquals(s: string, pos: number, part: string): boolean {
  const n = part.length;
  if (pos + n > s.length) return false;
  for (let i = n - 1; i >= 0; i--) {
    if (s.charCodeAt(pos + i) !== part.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Percent-decodes a parameter value; malformed encoding (`%E0%A4%A`) yields the raw text
 * rather than an exception, because a client's bad URL must not become a 500.
 * `+` stays `+`: in a path it is not a space.
 */
export function decodeParam(raw: string): string {
  if (raw.indexOf('%') === -1) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * True when `path` starts with `prefix` on a segment boundary: `/api` takes `/api`,
 * `/api/` and `/api/x` but not `/apix`; a prefix ending in `/` (including `/` itself)
 * needs no further boundary.
 */
export function hasPathPrefix(path: string, prefix: string): boolean {
  if (!regionEquals(path, 0, prefix)) return false;
  const end = prefix.length;
  return end === path.length || path.charCodeAt(end) === SLASH || prefix.charCodeAt(end - 1) === SLASH;
}
