/**
 * The gateway-wide `defaults`: middleware values and header edits that every route gets
 * unless it has its own (which replaces the default) or says `off`. The keys come from
 * the middleware registry, so every registered middleware can be a default without this
 * file naming one. How a default is built (one middleware for the whole gateway, or one
 * per route) is the descriptor's `defaultScope`; see docs/policies.md.
 */
import { Type, type Static, type TOptional } from '../../config/type-builder.js';
import type { ConfigCheck } from '../../config/normalize-kit.js';
import { Strict } from '../../config/schema-kit.js';
import type { MiddlewareRegistry } from '../../middlewares/descriptor.js';
import { MIDDLEWARES } from '../../middlewares/registry.js';
import { normalizeHeaderEdits } from './header-edits.js';
import { HeaderEdits } from './schema.js';
import type { DefaultsConfig, HeaderEdits as HeaderEditsConfig } from './types.js';

/** The `defaults` keys of the middlewares of registry `R`, each optional. */
export type DefaultMiddlewareProperties<R extends MiddlewareRegistry> = { [D in R[number] as D['key']]: TOptional<D['schema']> };

/**
 * The `defaults` schema with the middlewares of `registry`: header edits, then one
 * optional key per middleware, in registry order.
 */
export function defaultsSchema<R extends MiddlewareRegistry>(registry: R) {
  const middlewares: Record<string, TOptional<R[number]['schema']>> = {};
  for (const d of registry) middlewares[d.key] = Type.Optional(d.schema);
  return Strict(
    {
      requestHeaders: Type.Optional(HeaderEdits),
      responseHeaders: Type.Optional(HeaderEdits),
      ...(middlewares as DefaultMiddlewareProperties<R>),
    },
    'What every route gets unless it says otherwise: middlewares (a route\'s own value of a key replaces the default; `off` opts the route out) and header edits (added to a route\'s own, which win where both name a header; `off` opts out). A default rate limit, auth, IP filter, CORS or compression is one middleware for the whole gateway: one rate-limit bucket per client across all routes. A default `cache` or `concurrency` is each route\'s own. See [policies.md](policies.md).',
  );
}

/** The `defaults` schema of the built-in middlewares. */
export const DefaultsSchema = defaultsSchema(MIDDLEWARES);

/** `defaults` as written in the file. */
export type RawDefaults = Static<typeof DefaultsSchema>;

/**
 * Normalises `defaults`: each middleware value by its descriptor (problems under
 * `defaults.<key>`), header edits as a route's, whose templates may only use
 * `${requestId}` (a default has no route parameters).
 */
export function normalizeDefaults(check: ConfigCheck, raw: RawDefaults | undefined, registry: MiddlewareRegistry = MIDDLEWARES): DefaultsConfig {
  const result: Record<string, unknown> = {};
  if (raw === undefined) return result;
  for (const kind of ['requestHeaders', 'responseHeaders'] as const) {
    const edits = raw[kind];
    if (edits === undefined) continue;
    const normalized = normalizeHeaderEdits(check, ['defaults', kind], edits);
    for (const list of ['set', 'add'] as const) {
      for (const [name, value] of Object.entries(normalized[list])) {
        for (const m of value.matchAll(/\$\{([^}]*)\}/g)) {
          if (m[1] !== 'requestId') check.problem(['defaults', kind, list, name], `uses "\${${m[1]}}", but a default applies to every route and has no route parameters (only \${requestId} can be used)`);
        }
      }
    }
    result[kind] = normalized satisfies HeaderEditsConfig;
  }
  const values = raw as Readonly<Record<string, unknown>>;
  for (const d of registry) {
    const value = values[d.key];
    if (value === undefined) continue;
    // The schema validated `value` against `d.schema`, which is what `normalize` takes.
    const config = check.adopt(['defaults', d.key], d.normalize(value as never, check.context));
    if (config !== undefined) result[d.key] = config;
  }
  return result;
}
