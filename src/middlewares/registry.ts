/**
 * Every middleware a route can have: one line per feature folder. The route schema, the
 * normalised `RouteConfig` type, the route normaliser and the pipeline builder all walk
 * this list, so adding a middleware is adding its folder and its line here (README.md).
 *
 * Listed in the order of the configuration reference (docs/configuration.md); the order
 * in the pipeline is each descriptor's `order`, not its place here.
 */
import { authDescriptor } from './auth/descriptor.js';
import { cacheDescriptor } from './cache/descriptor.js';
import { compressionDescriptor } from './compression/descriptor.js';
import { corsDescriptor } from './cors/descriptor.js';
import { ipFilterDescriptor } from './ip-filter/descriptor.js';
import { rateLimitDescriptor } from './rate-limit/descriptor.js';
import { httpsRedirectDescriptor } from './https-redirect/descriptor.js';
import { concurrencyDescriptor } from './shedding/descriptor.js';

/** The built-in route middlewares: what the config schema, `RouteConfig`, the normaliser and the pipeline know. */
export const MIDDLEWARES = [concurrencyDescriptor, httpsRedirectDescriptor, ipFilterDescriptor, corsDescriptor, authDescriptor, rateLimitDescriptor, cacheDescriptor, compressionDescriptor] as const;

/** The route keys of the built-in middlewares. */
export type MiddlewareKey = (typeof MIDDLEWARES)[number]['key'];
