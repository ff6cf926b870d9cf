import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { normalise } from '../config/normalize.js';
import type { RawConfig } from '../config/schema.js';
import { Strict } from '../config/schema-kit.js';
import type { Middleware, RequestContext } from '../core/middleware.js';
import { routeSchema } from '../router/config/schema.js';
import type { RouteConfig } from '../router/config/types.js';
import { testLogger } from './auth/testing.js';
import { corsDescriptor } from './cors/descriptor.js';
import { defineMiddleware, type MiddlewareRegistry } from './descriptor.js';
import { cacheDescriptor } from './cache/descriptor.js';
import { buildPipeline, loadMiddlewares, MiddlewareCache, pipelineOrder } from './pipeline.js';
import { MIDDLEWARES } from './registry.js';

const { logger } = testLogger();

/**
 * A test-only middleware: `stamp: { header: X-Stamp, value: v }` adds a header to the
 * request sent upstream. Its normaliser lower-cases the name and refuses an empty value.
 */
const StampSchema = Strict(
  { header: Type.String({ minLength: 1, description: 'Header to set.' }), value: Type.String({ description: 'Its value.' }) },
  'Stamps the request.',
);
let loads = 0;
const closed: string[] = [];
const stampDescriptor = defineMiddleware({
  key: 'stamp',
  schema: StampSchema,
  order: 250, // between cors (200) and auth (300)
  normalize: (raw) =>
    raw.value === ''
      ? { problems: [{ path: ['value'], message: 'a stamp needs a value' }], warnings: [] }
      : { config: { header: raw.header.toLowerCase(), value: raw.value }, problems: [], warnings: [] },
  load: async () => {
    loads++;
    return {
      createStamp: (config: { header: string; value: string }, routeName: string): Middleware => ({
        name: 'stamp',
        handle(ctx: RequestContext) {
          ctx.upstreamHeaders.push(config.header, `${config.value}@${routeName}`);
          return null;
        },
        close() {
          closed.push(config.value);
        },
      }),
    };
  },
  create: (m, config, { route }) => m.createStamp(config, route.name),
});
const WITH_STAMP: MiddlewareRegistry = [...MIDDLEWARES, stampDescriptor];

function rawConfig(route: Record<string, unknown>): RawConfig {
  return {
    listen: [{ address: '127.0.0.1:0' }],
    upstreams: { app: { targets: [{ url: 'http://127.0.0.1:7001' }] } },
    routes: [{ name: 'r', upstream: 'app', ...route }],
  } as RawConfig;
}

describe('the middleware registry drives the schema, the normaliser and the pipeline', () => {
  it('a registered descriptor appears in the route schema, its description and validation', () => {
    const schema = JSON.parse(JSON.stringify(routeSchema(WITH_STAMP))) as { properties: Record<string, { description?: string }>; description: string };
    assert.equal(schema.properties['stamp']?.description, 'Stamps the request. `off` (or `false`): not on this route, even when `defaults` has it.');
    // Every built-in key is still there, and only the copy has `stamp`.
    for (const d of MIDDLEWARES) assert.ok(schema.properties[d.key] !== undefined, d.key);
    assert.equal(JSON.parse(JSON.stringify(routeSchema(MIDDLEWARES))).properties['stamp'], undefined);
    assert.match(schema.description, /run in the order httpsRedirect, ipFilter, compression, cors, stamp, auth, rateLimit, cache, concurrency,/);
    const validate = new Ajv({ strict: false }).compile(schema);
    assert.equal(validate({ name: 'r', upstream: 'app', stamp: { header: 'X-Stamp', value: 'v' } }), true);
    assert.equal(validate({ name: 'r', upstream: 'app', stamp: { header: 'X-Stamp' } }), false, 'value is required');
    assert.equal(validate({ name: 'r', upstream: 'app', stamp: { header: 'X-Stamp', value: 'v', extra: 1 } }), false, 'strict object');
  });

  it('normalises the key through its descriptor, with problems under routes.N.<key>', () => {
    const good = normalise(rawConfig({ stamp: { header: 'X-Stamp', value: 'v' }, cors: { origins: ['https://a.example'] } }), { source: '', baseDir: '/' }, WITH_STAMP);
    assert.deepEqual(good.problems, []);
    const route = good.config?.routes[0] as RouteConfig & { stamp?: unknown };
    assert.deepEqual(route.stamp, { header: 'x-stamp', value: 'v' });
    assert.ok(route.cors !== undefined, 'the built-ins are normalised as before');
    assert.ok(Object.isFrozen(route.stamp), 'frozen with the rest');

    const bad = normalise(rawConfig({ stamp: { header: 'X-Stamp', value: '' } }), { source: '', baseDir: '/' }, WITH_STAMP);
    assert.equal(bad.config, undefined);
    assert.deepEqual(bad.problems, [{ path: ['routes', 0, 'stamp', 'value'], message: 'a stamp needs a value' }]);

    // Without the descriptor the key is not a route key: the normaliser never looks at it.
    const without = normalise(rawConfig({ stamp: { header: 'X-Stamp', value: '' } }), { source: '', baseDir: '/' });
    assert.equal((without.config?.routes[0] as { stamp?: unknown } | undefined)?.stamp, undefined);
  });

  it('a route without middlewares has no pipeline, and loads nothing', async () => {
    const { config } = normalise(rawConfig({}), { source: '', baseDir: '/' });
    await loadMiddlewares(config!);
    for (const d of MIDDLEWARES) assert.equal(d.factory, null, `${d.key} was loaded`);
    assert.equal(buildPipeline(config!.routes[0]!, { logger }, new MiddlewareCache()), null);
    await loadMiddlewares({ routes: [{ ...config!.routes[0]!, cors: { origins: [] } } as unknown as RouteConfig] });
    assert.notEqual(corsDescriptor.factory, null);
  });

  it('loads the factory lazily, once, and builds the pipeline in the descriptors\' order', async () => {
    const { config, problems } = normalise(
      rawConfig({ concurrency: { maxConcurrent: 5 }, stamp: { header: 'X-Stamp', value: 'v1' }, ipFilter: { allow: ['127.0.0.1'] }, cors: { origins: ['https://a.example'] } }),
      { source: '', baseDir: '/' },
      WITH_STAMP,
    );
    assert.deepEqual(problems, []);
    const route = config!.routes[0]!;
    const cache = new MiddlewareCache();
    assert.equal(stampDescriptor.factory, null);
    assert.throws(() => buildPipeline(route, { logger }, cache, WITH_STAMP), /middleware "(ipFilter|cors|stamp|concurrency)" of route "r" is not loaded: await loadMiddlewares/);

    await Promise.all([loadMiddlewares(config!, WITH_STAMP), loadMiddlewares(config!, WITH_STAMP)]);
    assert.equal(loads, 1, 'one import for any number of callers');
    assert.equal(cacheDescriptor.factory, null, 'a middleware no route uses is not loaded');

    cache.beginGeneration();
    const pipeline = buildPipeline(route, { logger }, cache, WITH_STAMP);
    assert.deepEqual(
      pipeline?.map((m) => m.name),
      ['ipFilter', 'cors', 'stamp', 'concurrency'],
    );
    const ctx = { upstreamHeaders: [] as string[] } as unknown as RequestContext;
    assert.equal(pipeline![2]!.handle(ctx), null);
    assert.deepEqual(ctx.upstreamHeaders, ['x-stamp', 'v1@r']);

    // A reload with the same config keeps the built middleware; a changed one replaces it, and the old one is closed.
    cache.beginGeneration();
    assert.equal(buildPipeline(route, { logger }, cache, WITH_STAMP)![2], pipeline![2]);
    cache.sweep();
    assert.deepEqual(closed, []);
    const changed = { ...route, stamp: { header: 'x-stamp', value: 'v2' } } as RouteConfig;
    cache.beginGeneration();
    const next = buildPipeline(changed, { logger }, cache, WITH_STAMP)!;
    assert.notEqual(next[2], pipeline![2]);
    assert.equal(next[0], pipeline![0], 'the unchanged ipFilter is kept');
    cache.sweep();
    assert.deepEqual(closed, ['v1']);
    cache.closeAll();
  });

  it('the built-in registry: unique keys and orders, pipeline in the documented order', () => {
    assert.equal(new Set(MIDDLEWARES.map((d) => d.key)).size, MIDDLEWARES.length);
    assert.equal(new Set(MIDDLEWARES.map((d) => d.order)).size, MIDDLEWARES.length);
    assert.deepEqual(
      pipelineOrder().map((d) => d.key),
      ['httpsRedirect', 'ipFilter', 'compression', 'cors', 'auth', 'rateLimit', 'cache', 'concurrency'],
    );
  });

  it('a middleware key that is already a route key is refused', () => {
    const clash = defineMiddleware({ ...stampDescriptor, key: 'upstream', create: () => ({ name: 'x', handle: () => null }), load: async () => ({}) });
    assert.throws(() => routeSchema([...MIDDLEWARES, clash]), /middleware key "upstream" is already a route key/);
    assert.throws(() => routeSchema([...MIDDLEWARES, corsDescriptor]), /middleware key "cors" is already a route key/);
  });

  it('a failed import can be tried again', async () => {
    let attempts = 0;
    const flaky = defineMiddleware({
      key: 'flaky',
      schema: StampSchema,
      order: 900,
      normalize: () => ({ config: {}, problems: [], warnings: [] }),
      load: async () => {
        attempts++;
        if (attempts === 1) throw new Error('cannot load');
        return {};
      },
      create: () => ({ name: 'flaky', handle: () => null }),
    });
    await assert.rejects(flaky.load(), /cannot load/);
    assert.equal(flaky.factory, null);
    await flaky.load();
    assert.notEqual(flaky.factory, null);
    assert.equal(attempts, 2);
  });
});
