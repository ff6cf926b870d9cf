/**
 * The `compression` middleware: it answers nothing itself; it puts the route's
 * `Compressor` on the request, which the exchange consults when the response head is
 * written (`ResponseTransform`, src/core/response-transform.ts).
 */
import type { Middleware, RequestContext } from '../../core/middleware.js';
import { Compressor } from './compressor.js';
import type { CompressionConfig } from './schema.js';

export { CompressionSchema, normalizeCompression, type CompressionConfig } from './schema.js';
export { Compressor } from './compressor.js';

/**
 * Builds the middleware of a route (or of the gateway's `defaults`). Synchronous and
 * allocation-free per request.
 *
 * @example
 * const mw = createCompression(normalizeCompression(true).config!);
 * mw.handle(ctx); // null; the response is compressed when the client and the response allow it
 */
export function createCompression(config: CompressionConfig): Middleware {
  const compressor = new Compressor(config);
  return {
    name: 'compression',
    handle(ctx: RequestContext): null {
      ctx.transformResponse?.(compressor);
      return null;
    },
  };
}
