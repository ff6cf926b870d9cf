/**
 * A feature is a folder with one descriptor (Envoy's filter factories, fastify's plugins):
 * everything the rest of the gateway needs to know about a route middleware, in one
 * object registered once in registry.ts. The config schema, the normalised `RouteConfig`
 * type, the route normaliser and the pipeline builder iterate the registry; none of them
 * names a middleware.
 *
 * A descriptor module imports only its feature's schema module: the implementation is
 * reached through `load()`, a dynamic import, so that
 * - the config layer (schema, types, normaliser) never imports an implementation that
 *   imports the config back (no import circle, type imports included), and
 * - a gateway loads only the middlewares its routes use (`loadMiddlewares(config)` in
 *   pipeline.ts, awaited before a runtime is built).
 *
 * See README.md in this folder for adding a middleware step by step.
 */
import type { Static, TSchema } from '../config/type-builder.js';
// pino's type rather than observability/logger.ts, which reads the config types: this
// module sits below the config layer.
import type { Logger } from 'pino';
import type { NormaliseContext, Normalized } from '../config/normalize-kit.js';
import type { Middleware } from '../core/middleware.js';
import type { PriorityName } from './shedding/schema.js';

/** What the gateway gives every middleware factory. */
export interface MiddlewareDeps {
  readonly logger: Logger;
  /** `overload.priorityHeader` (lower-case), or null when requests may not set their own priority. */
  readonly priorityHeader?: string | null;
  /** Told every wait in a route's concurrency queue (the gateway's load shedder reads it). */
  readonly onQueueWait?: (ms: number) => void;
}

/**
 * What a middleware may know of the route it is built for. Not the route's `RouteConfig`:
 * that type is made from the registry, which this module sits below.
 */
export interface RouteFacts {
  /** The route's name; `(defaults)` for a middleware built once from `defaults` (see `shared`). */
  readonly name: string;
  /** The route's `priority`, `normal` when not set. */
  readonly priority: PriorityName;
  /**
   * True when the middleware is built once from the gateway's `defaults` and shared by
   * every route that takes it (`defaultScope: 'gateway'`): it then stands for the whole
   * gateway, not for one route.
   */
  readonly shared: boolean;
  /** Whether the route also has the middleware of config key `key` (the cache asks about `cors`). */
  has(key: string): boolean;
}

/** What the gateway's `defaults` value of a key builds; see `MiddlewareSpec.defaultScope`. */
export type DefaultScope = 'gateway' | 'route';

/** One place of a middleware in the pipeline, with the part of its config that runs there. */
export interface MiddlewareStage<C> {
  readonly order: number;
  readonly config: C;
}

/** What a factory and a reuse key are given besides the middleware's own config. */
export interface BuildContext {
  readonly route: RouteFacts;
  readonly deps: MiddlewareDeps;
}

/** Builds one route's middleware from its normalised config. Synchronous: the module is already loaded. */
export type MiddlewareFactory<C> = (config: C, context: BuildContext) => Middleware;

/**
 * What a feature folder writes; `defineMiddleware` turns it into its descriptor. `M` is
 * the feature's implementation module, loaded by `load` and handed to `create`.
 */
export interface MiddlewareSpec<K extends string, S extends TSchema, C, M> {
  /** The route config key: `rateLimit`. */
  readonly key: K;
  /** The TypeBox schema of the key's value: the JSON Schema, the generated reference and the raw type. */
  readonly schema: S;
  /**
   * Place in the route pipeline: lower runs first. Gaps of 100 leave room for a new
   * middleware between two others without renumbering.
   */
  readonly order: number;
  /**
   * What a value under the gateway's `defaults` builds: `gateway` (the default) — one
   * middleware shared by every route that takes the default, so a gateway-wide rate limit
   * is one bucket per client and auth keeps one verification cache; `route` — one per
   * route, as if the value were written on each (a cache's store, a route's concurrency
   * queue). A route's own value is always the route's own.
   */
  readonly defaultScope?: DefaultScope;
  /**
   * The places the middleware takes in the pipeline when it runs at more than one (rate
   * limits keyed by client address run before auth, the others after it). Each stage is
   * built as a middleware of its own from its part of the config, and a stage's config
   * must be one `create` takes. Default: one stage, at `order`, with the whole config.
   */
  stages?(config: C): ReadonlyArray<MiddlewareStage<C>>;
  /**
   * Checks and normalises a schema-valid value. Problem paths are relative to the key
   * (`['limits', 0, 'rate']`); the route normaliser prefixes `routes.N.<key>`.
   */
  normalize(raw: Static<S>, context: NormaliseContext): Normalized<C>;
  /**
   * What decides whether a reload may keep the middleware built for the previous config
   * version (its counters, caches, connections): the same route, key and reuse key keep
   * it. Defaults to the config itself; add what else the factory reads from `context`.
   */
  reuseKey?(config: C, context: BuildContext): unknown;
  /** Loads the implementation module: `() => import('./index.js')`, never a static import. */
  load(): Promise<M>;
  /** Builds one route's middleware with the loaded module. */
  create(module: M, config: C, context: BuildContext): Middleware;
}

/** A registered middleware: what its spec says, with its module loaded once and a factory at hand after. */
export interface MiddlewareDescriptor<K extends string, S extends TSchema, C> {
  readonly key: K;
  readonly schema: S;
  readonly order: number;
  readonly defaultScope: DefaultScope;
  stages(config: C): ReadonlyArray<MiddlewareStage<C>>;
  normalize(raw: Static<S>, context: NormaliseContext): Normalized<C>;
  reuseKey?(config: C, context: BuildContext): unknown;
  /** Loads the implementation once; later calls share the first promise, and a failed import may be tried again. */
  load(): Promise<MiddlewareFactory<C>>;
  /** The factory once `load()` has resolved; null before. */
  readonly factory: MiddlewareFactory<C> | null;
}

/**
 * Any descriptor, whatever its config type: what registries hold and what the schema,
 * normaliser and pipeline builder walk. (`never` parameters accept every descriptor.)
 */
export interface AnyMiddlewareDescriptor {
  readonly key: string;
  readonly schema: TSchema;
  readonly order: number;
  readonly defaultScope: DefaultScope;
  stages(config: never): ReadonlyArray<MiddlewareStage<unknown>>;
  normalize(raw: never, context: NormaliseContext): Normalized<unknown>;
  reuseKey?(config: never, context: BuildContext): unknown;
  load(): Promise<unknown>;
  readonly factory: ((config: never, context: BuildContext) => Middleware) | null;
}

/** A list of descriptors: the built-in `MIDDLEWARES`, or a copy with more (tests). */
export type MiddlewareRegistry = readonly AnyMiddlewareDescriptor[];

/** The normalised config type of a descriptor. */
export type ConfigOf<D> = D extends { normalize(raw: never, context: NormaliseContext): Normalized<infer C> } ? C : never;

/**
 * Makes a descriptor. `load()` runs the import once: later calls share its promise, and
 * a failed import may be tried again.
 *
 * @example
 * export const corsDescriptor = defineMiddleware({
 *   key: 'cors',
 *   schema: CorsSchema,
 *   order: 200,
 *   normalize: (raw, { baseDir }) => normalizeCors(raw, baseDir),
 *   load: () => import('./index.js'),
 *   create: (m, config, { deps }) => m.createCors(config, deps),
 * });
 */
export function defineMiddleware<K extends string, S extends TSchema, C, M>(spec: MiddlewareSpec<K, S, C, M>): MiddlewareDescriptor<K, S, C> {
  let factory: MiddlewareFactory<C> | null = null;
  let loading: Promise<MiddlewareFactory<C>> | null = null;
  const descriptor: MiddlewareDescriptor<K, S, C> = {
    key: spec.key,
    schema: spec.schema,
    order: spec.order,
    defaultScope: spec.defaultScope ?? 'gateway',
    stages: (config) => spec.stages?.(config) ?? [{ order: spec.order, config }],
    normalize: (raw, context) => spec.normalize(raw, context),
    ...(spec.reuseKey === undefined ? {} : { reuseKey: spec.reuseKey }),
    load() {
      loading ??= spec.load().then(
        (module) => (factory = (config, context) => spec.create(module, config, context)),
        (error: unknown) => {
          loading = null;
          throw error;
        },
      );
      return loading;
    },
    get factory() {
      return factory;
    },
  };
  return Object.freeze(descriptor);
}
