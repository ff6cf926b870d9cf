/**
 * Route header edits, compiled once and applied in place on a flat raw header list.
 */

import type { HeaderEdits } from '../config/types.js';
import { parseValueTemplate, type Template } from './template.js';
import type { HeaderEditor, RouteParams } from './types.js';

/** The placeholder that is always filled with the request id, whatever the route captures. */
export const REQUEST_ID = 'requestId';

class HeaderEditorImpl implements HeaderEditor {
  /** Lower-cased names removed from the list: `remove` plus every `set` name. */
  private readonly drop: readonly string[];
  /** Pairs appended after removal: every `set`, then every `add`. */
  private readonly names: readonly string[];
  private readonly values: readonly Template[];

  constructor(drop: string[], names: string[], values: Template[]) {
    this.drop = drop;
    this.names = names;
    this.values = values;
  }

  apply(raw: string[], params: RouteParams | null, requestId: string): void {
    const drop = this.drop;
    if (drop.length !== 0) {
      let w = 0;
      const len = raw.length;
      for (let r = 0; r < len; r += 2) {
        const name = raw[r]!;
        if (r + 1 < len && isDropped(name, drop)) continue;
        if (w !== r) {
          raw[w] = name;
          if (r + 1 < len) raw[w + 1] = raw[r + 1]!;
        }
        w += r + 1 < len ? 2 : 1;
      }
      raw.length = w;
    }
    const names = this.names;
    const values = this.values;
    for (let i = 0; i < names.length; i++) {
      raw.push(names[i]!, renderValue(values[i]!, params, requestId));
    }
  }
}

function isDropped(name: string, drop: readonly string[]): boolean {
  for (let i = 0; i < drop.length; i++) {
    const d = drop[i]!;
    if (d.length === name.length && equalsLowerAscii(name, d)) return true;
  }
  return false;
}

/** Case-insensitive compare against an already lower-cased name, without allocating. */
function equalsLowerAscii(name: string, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

function renderValue(t: Template, params: RouteParams | null, requestId: string): string {
  const names = t.names;
  if (names.length === 0) return t.literals[0]!;
  let out = t.literals[0]!;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const v = name === REQUEST_ID ? requestId : params?.[name];
    out += safeHeaderText(v ?? '') + t.literals[i + 1]!;
  }
  return out;
}

/**
 * Percent-encodes every character a header value must not carry (anything but tab and
 * printable ASCII). Decoded parameters come from the client: `%0D%0A` would otherwise
 * inject a header, and a character above U+00FF makes Node's header writer throw.
 */
export function safeHeaderText(v: string): string {
  let ok = true;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c !== 9 && (c < 32 || c > 126)) {
      ok = false;
      break;
    }
  }
  if (ok) return v;
  let out = '';
  for (const ch of v) {
    const c = ch.charCodeAt(0);
    if (ch.length === 1 && (c === 9 || (c >= 32 && c <= 126))) {
      out += ch;
    } else {
      try {
        out += encodeURIComponent(ch);
      } catch {
        out += '%EF%BF%BD'; // a lone surrogate: U+FFFD, the replacement character
      }
    }
  }
  return out;
}

/**
 * Compiles header edits, or returns `null` when they change nothing.
 *
 * @param knownParams names the route can capture; `${requestId}` is always known.
 * @throws Error naming a placeholder the route cannot fill.
 */
export function compileHeaderEdits(edits: HeaderEdits | undefined, knownParams: ReadonlySet<string>, where: string): HeaderEditor | null {
  if (edits === undefined) return null;
  const setNames = Object.keys(edits.set).map((n) => n.toLowerCase());
  const addNames = Object.keys(edits.add).map((n) => n.toLowerCase());
  const drop = [...new Set([...edits.remove.map((n) => n.toLowerCase()), ...setNames])];
  if (drop.length === 0 && addNames.length === 0) return null;
  const names: string[] = [];
  const values: Template[] = [];
  const push = (name: string, value: string, key: string): void => {
    const t = parseValueTemplate(value);
    for (const p of t.names) {
      if (p !== REQUEST_ID && !knownParams.has(p)) {
        throw new Error(`${where}.${key} "${name}" uses "\${${p}}" but the route captures no parameter "${p}" (only route parameters and \${requestId} can be used)`);
      }
    }
    names.push(name);
    values.push(t);
  };
  for (const [name, value] of Object.entries(edits.set)) push(name.toLowerCase(), value, 'set');
  for (const [name, value] of Object.entries(edits.add)) push(name.toLowerCase(), value, 'add');
  return new HeaderEditorImpl(drop, names, values);
}
