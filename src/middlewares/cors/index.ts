/**
 * The `cors` middleware (Fetch standard, CORS protocol). Written by hand: the libraries
 * (`cors`, `@fastify/cors`) are tied to Express or fastify request objects, and the
 * protocol is a few header rules.
 */
import type { Answer, Middleware, RequestContext } from '../../core/middleware.js';
import type { Logger } from '../../observability/logger.js';
import type { CorsConfig } from './schema.js';

export { CorsSchema, normalizeCors, type CorsConfig, type RawCors } from './schema.js';

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const LABELS = /^[a-z0-9-]+(?:\.[a-z0-9-]+)*$/;
const PREFLIGHT_VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';

/**
 * Builds the `cors` middleware of a route. Synchronous.
 *
 * - Preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`): answered here,
 *   never forwarded. 204 with the allow headers when origin, method and headers are
 *   allowed; otherwise 403 `BRISK_FORBIDDEN` without CORS headers, so the browser fails
 *   the request and the developer sees why in the network tab.
 * - Other requests go on; an allowed origin gets `Access-Control-Allow-Origin` (and
 *   `-Credentials`, `-Expose-Headers`) on the response through `ctx.responseHeaders`. Every
 *   answer carries `Vary: Origin` so shared caches keep answers per origin.
 *
 * Put it before `auth` in the pipeline: preflights carry no credentials.
 *
 * @example
 * const cors = createCors(normalizeCors({ origins: ['https://app.example.com'] }).config!, { logger });
 */
export function createCors(config: CorsConfig, deps: { readonly logger: Logger }): Middleware {
  const exact = new Set(config.origins);
  const methods = config.methods === null ? null : new Set(config.methods);
  const allowedHeaders = config.headers === null ? null : new Set(config.headers);
  const methodList = config.methods?.join(', ') ?? null;
  const expose = config.exposeHeaders.join(', ');
  const { logger } = deps;

  const allowed = (origin: string): boolean => {
    if (config.anyOrigin) return true;
    const lower = origin.toLowerCase();
    if (exact.has(lower)) return true;
    for (const w of config.wildcards) {
      const prefix = `${w.scheme}://`;
      if (lower.length > prefix.length + w.suffix.length && lower.startsWith(prefix) && lower.endsWith(w.suffix) && LABELS.test(lower.slice(prefix.length, lower.length - w.suffix.length))) return true;
    }
    return false;
  };
  /** `*` only when any origin is allowed and no credentials travel; the origin itself otherwise. */
  const allowOrigin = (origin: string): string => (config.anyOrigin && !config.credentials ? '*' : origin);

  const refuse = (ctx: RequestContext, message: string): Answer => {
    logger.debug({ requestId: ctx.requestId, route: ctx.routeName, reason: message }, 'CORS preflight refused');
    return { status: 403, code: 'BRISK_FORBIDDEN', message, headers: ['vary', PREFLIGHT_VARY] };
  };

  return {
    name: 'cors',
    handle(ctx: RequestContext): Answer | null {
      let origin: string | undefined;
      let origins = 0;
      let requestMethod: string | undefined;
      let requestHeaders: string | undefined;
      const raw = ctx.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const name = raw[i]!.toLowerCase();
        if (name === 'origin') {
          origin = raw[i + 1]!.trim();
          origins++;
        } else if (name === 'access-control-request-method') requestMethod = raw[i + 1]!.trim();
        else if (name === 'access-control-request-headers') requestHeaders = requestHeaders === undefined ? raw[i + 1]! : `${requestHeaders},${raw[i + 1]!}`;
      }

      if (ctx.method === 'OPTIONS' && requestMethod !== undefined && origin !== undefined) {
        if (origins > 1 || !allowed(origin)) return refuse(ctx, `origin ${JSON.stringify(origin.slice(0, 200))} is not allowed on this route`);
        if (!TOKEN.test(requestMethod)) return refuse(ctx, 'Access-Control-Request-Method is not a method');
        const method = requestMethod.toUpperCase();
        if (methods !== null && !methods.has(method)) return refuse(ctx, `method ${method} is not allowed for cross-origin requests on this route`);
        const asked = requestHeaders === undefined ? [] : requestHeaders.split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== '');
        for (const h of asked) {
          if (!TOKEN.test(h)) return refuse(ctx, 'Access-Control-Request-Headers is not a list of header names');
          if (allowedHeaders !== null && !allowedHeaders.has(h)) return refuse(ctx, `header ${h} is not allowed for cross-origin requests on this route`);
        }
        const headers = ['access-control-allow-origin', allowOrigin(origin), 'access-control-allow-methods', methodList ?? method];
        if (asked.length > 0) headers.push('access-control-allow-headers', [...new Set(asked)].join(', '));
        if (config.credentials) headers.push('access-control-allow-credentials', 'true');
        headers.push('access-control-max-age', String(config.maxAgeSeconds), 'vary', PREFLIGHT_VARY);
        return { status: 204, headers };
      }

      const out = (ctx.responseHeaders ??= []);
      out.push('vary', 'Origin');
      if (origin !== undefined && origins === 1 && allowed(origin)) {
        out.push('access-control-allow-origin', allowOrigin(origin));
        if (config.credentials) out.push('access-control-allow-credentials', 'true');
        if (expose !== '') out.push('access-control-expose-headers', expose);
      }
      return null;
    },
  };
}
