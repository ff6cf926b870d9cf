/**
 * The routes of one host, in precedence order, and matching a request against them. No
 * sorting or allocation per request: entries are ranked when the bucket is sealed.
 */
import { hasPathPrefix, regionEquals } from './path-pattern.js';
import { EXACT, PATTERN, PREFIX, REGEX, SLASH, groupsToParams, safeExec, type Entry, type Ranked } from './entry.js';
import type { RouteMatchResult } from './types.js';

/** Request headers with lower-case names, as Node gives them. */
export type Headers = Readonly<Record<string, string | string[] | undefined>>;

/**
 * The routes of one host (or of any host). Exact paths sit in a Map. The others are
 * indexed by the first path segment they require (`/users/:id`, `/api` as a prefix and
 * `^/re/` as a regex all require one), so a request only looks at the routes of its own
 * first segment plus the few that take any first segment, merged back into precedence
 * order by rank. A table of many services costs about as much per request as a table of one.
 */
export class Bucket {
  readonly exact = new Map<string, Entry[]>();
  /** Entries that need a given first segment, by segment hash; each list in rank order. */
  readonly bySegment = new Map<number, Ranked[]>();
  /** Entries any first segment may match, in rank order. */
  readonly generic: Ranked[] = [];
  private pending: Entry[] = [];

  add(e: Entry): void {
    if (e.kind === EXACT) {
      const list = this.exact.get(e.exactPath);
      if (list === undefined) this.exact.set(e.exactPath, [e]);
      else list.push(e);
    } else {
      this.pending.push(e);
    }
  }

  seal(): void {
    for (const list of this.exact.values()) list.sort(compareEntries);
    this.pending.sort(compareEntries);
    this.pending.forEach((e, rank) => {
      const r: Ranked = { ...e, rank };
      if (e.segmentKey < 0) {
        this.generic.push(r);
      } else {
        const list = this.bySegment.get(e.segmentKey);
        if (list === undefined) this.bySegment.set(e.segmentKey, [r]);
        else list.push(r);
      }
    });
    this.pending = [];
  }

  /** Candidates in the order `match()` tries them (before path filtering), for tests and the admin API. */
  ordered(): Entry[] {
    const rest = [...this.generic, ...[...this.bySegment.values()].flat()].sort((a, b) => a.rank - b.rank);
    return [...[...this.exact.values()].flat(), ...rest];
  }
}

/** The hash of the request path's first segment, or -1 when the path does not start with `/`. */
function firstSegmentHash(path: string): number {
  if (path.charCodeAt(0) !== SLASH) return -1;
  let h = 0;
  for (let i = 1; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === SLASH) break;
    h = (Math.imul(h, 31) + c) | 0;
  }
  return h & 0x3fffffff;
}

/**
 * Orders two routes of the same bucket and path kind: the more specific first. Total and
 * deterministic, so the winner never depends on the order routes were written in, except
 * through `index` as the documented last tie-breaker.
 */
function compareEntries(a: Entry, b: Entry): number {
  if (a.kind !== b.kind) return a.kind - b.kind;
  if (a.kind === PATTERN) {
    const pa = a.pattern!;
    const pb = b.pattern!;
    if (pa.staticCount !== pb.staticCount) return pb.staticCount - pa.staticCount;
    if (pa.fixedCount !== pb.fixedCount) return pb.fixedCount - pa.fixedCount;
    if (pa.hasRest !== pb.hasRest) return pa.hasRest ? 1 : -1;
    if (pa.shape !== pb.shape) return pa.shape < pb.shape ? -1 : 1;
  } else if (a.kind === PREFIX) {
    if (a.prefix.length !== b.prefix.length) return b.prefix.length - a.prefix.length;
  }
  if (a.conditionCount !== b.conditionCount) return b.conditionCount - a.conditionCount;
  if (a.index !== b.index) return a.index - b.index;
  return a.route.name < b.route.name ? -1 : a.route.name > b.route.name ? 1 : 0;
}

function conditionsHold(e: Entry, method: string, path: string, query: string, headers: Headers): boolean {
  if (e.methods !== null && !e.methods.has(method)) return false;
  const hs = e.headers;
  if (hs !== null) {
    for (let i = 0; i < hs.length; i++) if (!hs[i]!.test(headers)) return false;
  }
  const qs = e.query;
  if (qs !== null) {
    for (let i = 0; i < qs.length; i++) if (!qs[i]!.test(query)) return false;
  }
  return e.extraPath === null || e.extraPath(path);
}

export function matchBucket(b: Bucket, method: string, path: string, query: string, headers: Headers): RouteMatchResult | null {
  if (b.exact.size !== 0) {
    const list = b.exact.get(path);
    if (list !== undefined) {
      for (let i = 0; i < list.length; i++) {
        const e = list[i]!;
        if (conditionsHold(e, method, path, query, headers)) return e.result;
      }
    }
  }
  const seg = b.bySegment.size === 0 ? undefined : b.bySegment.get(firstSegmentHash(path));
  const gen = b.generic;
  const segLen = seg === undefined ? 0 : seg.length;
  let i = 0;
  let j = 0;
  // Merge the two rank-ordered lists: the overall order is the precedence order.
  while (i < segLen || j < gen.length) {
    let e: Ranked;
    if (i < segLen && (j >= gen.length || seg![i]!.rank < gen[j]!.rank)) e = seg![i++]!;
    else e = gen[j++]!;
    const r = tryEntry(e, method, path, query, headers);
    if (r !== null) return r;
  }
  return null;
}

function tryEntry(e: Entry, method: string, path: string, query: string, headers: Headers): RouteMatchResult | null {
  switch (e.kind) {
    case PATTERN: {
      const p = e.pattern!;
      // test() fills the pattern's offsets; conditionsHold() never touches them, so they
      // are still this path's when params() reads them.
      if (p.test(path) && conditionsHold(e, method, path, query, headers)) return { route: e.route, params: p.params(path) };
      return null;
    }
    case REGEX: {
      if (e.regexPrefix.length !== 0 && !regionEquals(path, 0, e.regexPrefix)) return null;
      const m = safeExec(e.regex!, path);
      if (m === null || !conditionsHold(e, method, path, query, headers)) return null;
      return e.regexHasGroups ? { route: e.route, params: groupsToParams(m, true) } : e.result;
    }
    case PREFIX:
      return hasPathPrefix(path, e.prefix) && conditionsHold(e, method, path, query, headers) ? e.result : null;
    default:
      return conditionsHold(e, method, path, query, headers) ? e.result : null;
  }
}
