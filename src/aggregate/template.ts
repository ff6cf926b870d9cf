/**
 * Templates of aggregate parts: `/api/users/${order.userId}`, `?ids=${order.productIds}`,
 * `${headers.x-tenant}`. Parsed once when the config is loaded (syntax and references are
 * checked there, with the column of the mistake) and rendered per request with a few
 * concatenations.
 *
 * A placeholder is `${source.field.field…}`. Sources:
 * - `params.NAME`: a route parameter (`/orders/:id` → `${params.id}`);
 * - `query.NAME`: a query parameter of the client's request (the first one of that name);
 * - `headers.NAME`: a header of the client's request (case-insensitive);
 * - `item` (and `item.field…`): the current element, in a part that has `forEach`;
 * - a part name (and fields into its JSON body): `${order.userId}`, `${order.items.0.sku}`.
 *
 * Values: strings as they are, numbers and booleans as text, a list as its elements
 * joined with commas (`1,2,3`). In a path or query, every value is percent-encoded (so a
 * value can never add a path segment or a query parameter); the commas of a list stay.
 */

/** Sources that are not part names. */
export const REQUEST_SOURCES = ['params', 'query', 'headers', 'item'] as const;

/** One placeholder: where its value comes from. */
export interface Ref {
  /** `params`, `query`, `headers`, `item`, or a part name. */
  readonly source: string;
  /** Fields below the source (`['userId']`); for `headers` the name is lower-cased. */
  readonly fields: readonly string[];
  /** The placeholder as written, for messages. */
  readonly text: string;
  /** In the query part of a path template (after the first `?`). */
  readonly inQuery: boolean;
}

/** `literals.length === refs.length + 1`. */
export interface PartTemplate {
  readonly literals: readonly string[];
  readonly refs: readonly Ref[];
}

/** A syntax problem, with the 0-based offset in the template text. */
export class TemplateSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const SOURCE = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const FIELD = /^[A-Za-z0-9_$-]+$/;

/**
 * Parses a template. Throws {@link TemplateSyntaxError} for an unclosed `${`, an empty
 * placeholder or a malformed field path.
 *
 * @example
 * parseTemplate('/api/users/${order.userId}').refs[0]; // { source: 'order', fields: ['userId'], ... }
 */
export function parseTemplate(text: string, kind: 'path' | 'value'): PartTemplate {
  const literals: string[] = [];
  const refs: Ref[] = [];
  let from = 0;
  let inQuery = false;
  for (;;) {
    const open = text.indexOf('${', from);
    const lit = text.slice(from, open === -1 ? text.length : open);
    if (kind === 'path' && lit.includes('?')) inQuery = true;
    if (open === -1) {
      literals.push(lit);
      break;
    }
    const close = text.indexOf('}', open + 2);
    if (close === -1) throw new TemplateSyntaxError(`unclosed "\${" at character ${open + 1}`, open);
    literals.push(lit);
    refs.push(parseRef(text.slice(open + 2, close), open, inQuery));
    from = close + 1;
  }
  return { literals, refs };
}

/**
 * Parses a reference written bare (`order.productIds`) or as one placeholder
 * (`${order.productIds}`): the `forEach` of a part.
 */
export function parseReference(text: string): Ref {
  const t = text.trim();
  if (t.startsWith('${') && t.endsWith('}')) return parseRef(t.slice(2, -1), 0, false);
  return parseRef(t, 0, false);
}

function parseRef(expr: string, offset: number, inQuery: boolean): Ref {
  const body = expr.trim();
  if (body === '') throw new TemplateSyntaxError(`empty placeholder "\${}" at character ${offset + 1}`, offset);
  const parts = body.split('.');
  const source = parts[0]!;
  if (!SOURCE.test(source)) throw new TemplateSyntaxError(`invalid name ${JSON.stringify(source)} in "\${${expr}}" at character ${offset + 1}: use a part name, params, query, headers or item`, offset);
  for (const f of parts.slice(1)) {
    if (!FIELD.test(f)) throw new TemplateSyntaxError(`invalid field ${JSON.stringify(f)} in "\${${expr}}" at character ${offset + 1}`, offset);
  }
  const fields = parts.slice(1);
  if ((source === 'params' || source === 'query' || source === 'headers') && fields.length !== 1) {
    throw new TemplateSyntaxError(`"\${${expr}}" at character ${offset + 1}: ${source} takes exactly one name, as in \${${source}.id}`, offset);
  }
  return { source, fields: source === 'headers' ? [fields[0]!.toLowerCase()] : fields, text: `\${${body}}`, inQuery };
}

/** What a template is filled from, for one request. */
export interface TemplateScope {
  param(name: string): string | undefined;
  query(name: string): string | undefined;
  header(name: string): string | undefined;
  /** The JSON body of a finished part. */
  part(name: string): unknown;
  /** The current `forEach` element. */
  readonly item: unknown;
}

/** Follows `fields` into a JSON value; undefined when a step is missing. */
export function dig(value: unknown, fields: readonly string[], from = 0): unknown {
  let v = value;
  for (let i = from; i < fields.length; i++) {
    if (v === null || typeof v !== 'object') return undefined;
    const f = fields[i]!;
    if (!Object.hasOwn(v, f)) return undefined;
    v = (v as Record<string, unknown>)[f];
  }
  return v;
}

/** The value of a reference. */
export function resolveRef(ref: Ref, scope: TemplateScope): unknown {
  switch (ref.source) {
    case 'params':
      return scope.param(ref.fields[0]!);
    case 'query':
      return scope.query(ref.fields[0]!);
    case 'headers':
      return scope.header(ref.fields[0]!);
    case 'item':
      return dig(scope.item, ref.fields);
    default:
      return dig(scope.part(ref.source), ref.fields);
  }
}

/** Thrown by `render` when a placeholder has no usable value. */
export class UnresolvedError extends Error {}

/**
 * Fills a template. `kind` `path` percent-encodes each value; `value` (headers) keeps it,
 * with characters a header may not hold percent-encoded.
 */
export function render(t: PartTemplate, scope: TemplateScope, kind: 'path' | 'value'): string {
  let out = t.literals[0]!;
  for (let i = 0; i < t.refs.length; i++) {
    const ref = t.refs[i]!;
    const text = toText(resolveRef(ref, scope), kind === 'path');
    if (text === undefined) throw new UnresolvedError(`${ref.text} has no value`);
    out += kind === 'path' ? text : headerSafe(text);
    out += t.literals[i + 1]!;
  }
  return out;
}

function toText(v: unknown, encode: boolean): string | undefined {
  if (typeof v === 'string') return encode ? encodeURIComponent(v) : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) {
    let out = '';
    for (let i = 0; i < v.length; i++) {
      const s = toText(v[i], encode);
      if (s === undefined || Array.isArray(v[i])) return undefined;
      out += i === 0 ? s : `,${s}`;
    }
    return out;
  }
  return undefined;
}

/** Control characters and anything outside printable ASCII percent-encoded: no header injection. */
function headerSafe(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /[^\x20-\x7e\t]/.test(s) ? s.replace(/[^\x20-\x7e\t]/g, (c) => encodeURIComponent(c)) : s;
}
