/**
 * Route header edits (`requestHeaders`, `responseHeaders`): checks and normalisation, and
 * how the gateway's `defaults` combine with a route's own.
 */
import { isHeaderName, isHeaderValue } from '../../config/addresses.js';
import { dedupe, putOwn, type ConfigCheck } from '../../config/normalize-kit.js';
import type { PathSegment } from '../../config/positions.js';
import type { RawHeaderEdits } from './schema.js';
import type { HeaderEdits } from './types.js';

/** Normalises header edits: names lower-cased and checked, values checked. */
export function normalizeHeaderEdits(check: ConfigCheck, at: readonly PathSegment[], raw: RawHeaderEdits): HeaderEdits {
  const values = (kind: 'set' | 'add'): Record<string, string> => {
    const result: Record<string, string> = {};
    for (const [name, value] of Object.entries(raw[kind] ?? {})) {
      const path = [...at, kind, name];
      if (!isHeaderName(name)) check.problem(path, `invalid header name ${JSON.stringify(name)}`, 'key');
      if (!isHeaderValue(value)) check.problem(path, 'a header value may not contain line breaks or NUL characters');
      if (Object.hasOwn(result, name.toLowerCase())) check.problem(path, `header ${JSON.stringify(name)} is listed twice (names are case-insensitive)`, 'key');
      putOwn(result, name.toLowerCase(), value);
    }
    return result;
  };
  const remove = (raw.remove ?? []).map((name, i) => {
    if (!isHeaderName(name)) check.problem([...at, 'remove', i], `invalid header name ${JSON.stringify(name)}`);
    return name.toLowerCase();
  });
  return { set: values('set'), add: values('add'), remove: dedupe(remove) };
}

/**
 * The gateway's default edits with a route's own on top. Unlike a middleware key, which
 * a route's own value replaces, header edits add up: a gateway that sets
 * `Strict-Transport-Security` everywhere keeps doing so on a route that adds one header
 * of its own. Where both name a header, the route wins: its `set` or `remove` of a name
 * drops what the defaults `set` or `add` for it.
 */
export function mergeHeaderEdits(defaults: HeaderEdits, own: HeaderEdits): HeaderEdits {
  const owned = new Set([...Object.keys(own.set), ...own.remove]);
  const set: Record<string, string> = {};
  const add: Record<string, string> = {};
  for (const [name, value] of Object.entries(defaults.set)) if (!owned.has(name)) putOwn(set, name, value);
  for (const [name, value] of Object.entries(own.set)) putOwn(set, name, value);
  for (const [name, value] of Object.entries(defaults.add)) if (!owned.has(name) && !Object.hasOwn(own.add, name)) putOwn(add, name, value);
  for (const [name, value] of Object.entries(own.add)) putOwn(add, name, value);
  // Removal runs before `set` and `add` (header-editor.ts), so removing more never loses what the route puts in.
  return { set, add, remove: dedupe([...defaults.remove, ...own.remove]) };
}
