/**
 * The schema of a route (`routes[]`): what it matches, where it sends, what it changes on
 * the way, and the keys of the route middlewares, which come from the middleware registry
 * (src/middlewares/registry.ts) rather than being listed here. One source for the JSON
 * Schema, the generated reference and the raw types; normalised in normalize.ts.
 */
import { Type, type Static, type TLiteral, type TOptional, type TSchema, type TUnion } from '../../config/type-builder.js';
import { AggregateSchema } from '../../aggregate/schema.js';
import { PatternString, Size, Strict } from '../../config/schema-kit.js';
import type { MiddlewareRegistry } from '../../middlewares/descriptor.js';
import { MIDDLEWARES } from '../../middlewares/registry.js';
import { PrioritySchema } from '../../middlewares/shedding/schema.js';
import { RetrySchema, RouteHedgeSchema, TimeoutsSchema } from '../../upstreams/config/schema.js';
import { RedirectSchema } from './redirect.js';
import { UpgradesSchema } from './upgrades.js';

const StringMatch = Type.Union(
  [
    Type.String({ description: 'Exact value.' }),
    Strict(
      {
        exact: Type.Optional(Type.String({ description: 'Exact value.' })),
        prefix: Type.Optional(Type.String({ description: 'Value starts with this.' })),
        regex: Type.Optional(Type.String({ description: 'Value matches this regular expression.' })),
        present: Type.Optional(Type.Boolean({ description: '`true`: must be present (any value); `false`: must be absent.' })),
      },
      'A value matcher.',
    ),
  ],
  { description: 'An exact value, or `{exact|prefix|regex|present}`.' },
);

const Match = Strict(
  {
    host: Type.Optional(
      Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
        description: 'Host names: exact (`api.example.com`) or a wildcard for subdomains (`*.example.com`). The port is ignored.',
      }),
    ),
    path: Type.Optional(
      Type.String({ pattern: '^/', description: 'Exact path, or a pattern with parameters: `/users/:id/orders/:orderId`. A trailing `*` segment matches the rest.' }),
    ),
    pathPrefix: Type.Optional(Type.String({ pattern: '^/', description: 'Path prefix, on segment boundaries: `/api` matches `/api` and `/api/x`, not `/apix`.' })),
    pathRegex: Type.Optional(Type.String({ minLength: 1, description: 'Regular expression on the path; named groups become parameters.' })),
    methods: Type.Optional(
      Type.Array(Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' }), { minItems: 1, description: 'Allowed methods (any valid token, upper-cased).' }),
    ),
    headers: Type.Optional(Type.Record(Type.String({ minLength: 1 }), StringMatch, { description: 'Request headers that must match (names are case-insensitive).' })),
    query: Type.Optional(Type.Record(Type.String({ minLength: 1 }), StringMatch, { description: 'Query parameters that must match.' })),
    grpc: Type.Optional(
      PatternString('^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*(/[A-Za-z_][A-Za-z0-9_]*)?$', 'must be a gRPC service (`package.Service`) or method (`package.Service/Method`)', {
        description:
          'gRPC calls of a service (`helloworld.Greeter`: every method) or of one method (`helloworld.Greeter/SayHello`): the path `/helloworld.Greeter/SayHello` (or the prefix `/helloworld.Greeter/`), method POST and a gRPC content type. Excludes `path`, `pathPrefix` and `pathRegex`.',
      }),
    ),
  },
  'What requests the route takes. Every given condition must hold. When several routes match, the most specific wins: exact host over wildcard host over any host; then exact path over parameter pattern over regex over prefix (longer first); then the route with more conditions; then the first in the file.',
);

/** The header edits of a route (`requestHeaders`, `responseHeaders`) and of `defaults`. */
export const HeaderEdits = Strict(
  {
    set: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String(), { description: 'Headers to set (replacing any value).' })),
    add: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String(), { description: 'Headers to append (keeping existing values).' })),
    remove: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Headers to remove.' })),
  },
  'Header edits. `set` and `add` values may use `${param}` for route parameters and `${requestId}`.',
);

const Rewrite = Strict(
  {
    stripPrefix: Type.Optional(Type.String({ pattern: '^/', description: 'Remove this prefix from the path before forwarding.' })),
    addPrefix: Type.Optional(Type.String({ pattern: '^/', description: 'Add this prefix to the path before forwarding.' })),
    path: Type.Optional(Type.String({ pattern: '^/', description: 'Replace the path with this template; `:name` or `${name}` is filled from route parameters. The query string is kept.' })),
  },
  'Path rewrites, applied in the order stripPrefix, path, addPrefix.',
);

const Fallback = Strict(
  {
    status: Type.Optional(Type.Integer({ minimum: 200, maximum: 599, default: 200, description: 'Status of the static answer.' })),
    body: Type.Optional(Type.String({ description: 'Body of the static answer.' })),
    contentType: Type.Optional(Type.String({ minLength: 1, default: 'application/json', description: 'Content type of the static answer.' })),
    upstream: Type.Optional(Type.String({ minLength: 1, description: 'Send to this upstream instead (a standby service, a read-only replica). Excludes `body`.' })),
  },
  'What the route answers while its upstream\'s circuit breaker is open: a static answer, or another upstream.',
);

/**
 * `off` (or `false`) in place of a key that `defaults` may give every route: this route
 * does without it. YAML 1.2 reads `off` as a string, YAML 1.1 tools as `false`; both mean it.
 */
export const OPT_OUT = [Type.Literal('off'), Type.Literal(false)] as const;

/** True for a route value that opts out of a default (`off`, `false`). */
export function isOptOut(value: unknown): value is 'off' | false {
  return value === 'off' || value === false;
}

const OPT_OUT_TEXT = '`off` (or `false`): not on this route, even when `defaults` has it.';

/** A key `defaults` may give every route: its schema, or `off`. */
function orOff<S extends TSchema>(schema: S) {
  return Type.Union([schema, ...OPT_OUT], { description: `${String(schema.description ?? '')} ${OPT_OUT_TEXT}`.trim() });
}

/** The keys of a route that are not middlewares, in the order of the reference. */
function ownKeys() {
  return {
    name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.:-]+$', description: 'Unique name for logs, metrics and the admin API.' }),
    match: Type.Optional(Match),
    upstream: Type.Optional(Type.String({ minLength: 1, description: 'Name of the upstream the route sends to. A route has one of `upstream`, `aggregate` and `redirect`.' })),
    rewrite: Type.Optional(Rewrite),
    requestHeaders: Type.Optional(orOff(HeaderEdits)),
    responseHeaders: Type.Optional(orOff(HeaderEdits)),
    maxBodySize: Type.Optional(Size('Largest request body accepted (413 past it); `0` means no limit.')),
    upgrades: Type.Optional(UpgradesSchema),
    timeouts: Type.Optional(TimeoutsSchema),
    retry: Type.Optional(RetrySchema),
    hedge: Type.Optional(RouteHedgeSchema),
    fallback: Type.Optional(Fallback),
    priority: Type.Optional(PrioritySchema),
    grpcWeb: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'Translate gRPC-Web (browsers: `application/grpc-web`, `application/grpc-web-text`, over HTTP/1.1 or HTTP/2) to gRPC for the service, and its answer back (trailers as the last message of the body). The service must speak gRPC over HTTP/2 (`h2c://`, or `https://` with HTTP/2). Browsers also need `cors` on the route, exposing `grpc-status` and `grpc-message`.',
      }),
    ),
    idempotent: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          "The route's requests are safe to repeat whatever their method: retried on `retry.statuses` and `retry.grpcStatuses` and hedged like GETs. gRPC calls are POSTs, so mark read-only unary methods this way (not streaming ones: a request still streaming is never hedged or retried, but a server stream that was repeated would reach its client only once).",
      }),
    ),
  };
}

/** The route keys of the middlewares of registry `R`, each optional, each also `off` (see `OPT_OUT`). */
export type MiddlewareProperties<R extends MiddlewareRegistry> = { [D in R[number] as D['key']]: TOptional<TUnion<[D['schema'], TLiteral<'off'>, TLiteral<false>]>> };

/**
 * The route schema with the middlewares of `registry`: the route's own keys, then one
 * optional key per middleware in registry order, then `aggregate`. The description
 * lists the middlewares in pipeline order.
 *
 * @throws Error when a middleware's key is a key the route already has (a mistake in
 *   the registry, caught by every test that loads a configuration).
 */
export function routeSchema<R extends MiddlewareRegistry>(registry: R) {
  const own = ownKeys();
  const middlewares: Record<string, TSchema> = {};
  for (const d of registry) {
    if (Object.hasOwn(own, d.key) || d.key === 'aggregate' || d.key === 'redirect' || Object.hasOwn(middlewares, d.key)) throw new Error(`middleware key ${JSON.stringify(d.key)} is already a route key`);
    middlewares[d.key] = Type.Optional(orOff(d.schema));
  }
  const order = [...registry].sort((a, b) => a.order - b.order).map((d) => d.key);
  return Strict(
    { ...own, ...(middlewares as unknown as MiddlewareProperties<R>), aggregate: Type.Optional(AggregateSchema), redirect: Type.Optional(RedirectSchema) },
    `A route: which requests, which upstream, what to change on the way. Its middlewares run in the order ${order.join(', ')}, before a target is picked (rate limits keyed by client address run before auth). A middleware key the route leaves out is taken from \`defaults\`; \`off\` does without it.`,
  );
}

/** The route schema of the built-in middlewares. */
export const RouteSchema = routeSchema(MIDDLEWARES);

/** A route as written in the file (durations and sizes not yet normalised). */
export type RawRoute = Static<typeof RouteSchema>;
export type RawMatch = Static<typeof Match>;
export type RawStringMatch = Static<typeof StringMatch>;
export type RawHeaderEdits = Static<typeof HeaderEdits>;
export type RawFallback = Static<typeof Fallback>;
export type RawRewrite = Static<typeof Rewrite>;
