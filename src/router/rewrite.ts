/**
 * Path rewrites: stripPrefix, then the path template, then addPrefix.
 */

import type { RouteRewrite } from '../config/types.js';
import { hasPathPrefix } from './path-pattern.js';
import { parsePathTemplate, type Template } from './template.js';
import type { RouteParams } from './types.js';

const SLASH = 47;

/** Re-reads the route's parameters from a path it matched, as received (still encoded). */
export type RawParamReader = (path: string) => RouteParams | null;

/**
 * Compiles a route's rewrite, or returns `null` when it changes nothing.
 *
 * Template placeholders are filled with the raw (still percent-encoded) parameter text
 * re-read from the path: substituting the decoded values would turn `%2F` into a real
 * `/` and `%2E%2E` into `..`, letting a client reach paths the route never meant to.
 * Only when the path given does not match the route (a caller rewriting some other path)
 * are the decoded `params` used, percent-encoded again.
 *
 * @param knownParams names the route can capture; an unknown placeholder is a config error.
 * @throws Error naming the unknown placeholder.
 */
export function compileRewrite(
  rewrite: RouteRewrite | undefined,
  knownParams: ReadonlySet<string>,
  readRaw: RawParamReader | null,
): ((path: string, params: RouteParams | null) => string) | null {
  if (rewrite === undefined) return null;
  const strip = rewrite.stripPrefix !== undefined && rewrite.stripPrefix !== '' ? rewrite.stripPrefix : undefined;
  const add = rewrite.addPrefix !== undefined && rewrite.addPrefix !== '/' && rewrite.addPrefix !== '' ? rewrite.addPrefix : undefined;
  const template = rewrite.path !== undefined ? parsePathTemplate(rewrite.path) : undefined;
  if (strip === undefined && add === undefined && template === undefined) return null;
  if (template !== undefined) {
    for (const name of template.names) {
      if (!knownParams.has(name)) {
        const known = knownParams.size === 0 ? 'the route captures no parameters' : `known: ${[...knownParams].join(', ')}`;
        throw new Error(`rewrite.path "${rewrite.path}" uses parameter "${name}" that the route's match does not capture (${known})`);
      }
    }
  }

  return (path: string, params: RouteParams | null): string => {
    let out = path;
    if (strip !== undefined && hasPathPrefix(out, strip)) out = out.slice(strip.length);
    if (template !== undefined) out = renderPath(template, path, params, readRaw);
    if (out.length === 0 || out.charCodeAt(0) !== SLASH) out = '/' + out;
    if (add !== undefined) out = joinPath(add, out);
    return out;
  };
}

function renderPath(t: Template, path: string, params: RouteParams | null, readRaw: RawParamReader | null): string {
  if (t.names.length === 0) return t.literals[0]!;
  const raw = readRaw === null ? null : readRaw(path);
  let out = t.literals[0]!;
  for (let i = 0; i < t.names.length; i++) {
    const name = t.names[i]!;
    let value: string;
    if (raw !== null) value = raw[name] ?? '';
    else value = encodePathValue(params?.[name] ?? '', name === '*');
    out = joinPath(out, value);
    out = joinPath(out, t.literals[i + 1]!);
  }
  return out;
}

/** Concatenates two path pieces without creating `//` at the seam. */
export function joinPath(a: string, b: string): string {
  if (a.length !== 0 && b.length !== 0 && a.charCodeAt(a.length - 1) === SLASH && b.charCodeAt(0) === SLASH) {
    return a + b.slice(1);
  }
  return a + b;
}

/** Percent-encodes a decoded value for a path; the rest parameter `*` keeps its slashes. */
function encodePathValue(value: string, keepSlashes: boolean): string {
  const enc = (s: string): string => {
    try {
      return encodeURIComponent(s);
    } catch {
      // A lone surrogate cannot be encoded; drop the value rather than throw.
      return '';
    }
  };
  return keepSlashes ? value.split('/').map(enc).join('/') : enc(value);
}
