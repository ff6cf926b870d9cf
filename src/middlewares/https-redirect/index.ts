/**
 * The `httpsRedirect` middleware: a request that came over plain HTTP gets a redirect to
 * the same host, path and query on HTTPS; one that came over TLS (or from a trusted proxy
 * that terminated TLS) goes on.
 */
import type { Answer, Middleware, RequestContext } from '../../core/middleware.js';
import type { HttpsRedirectConfig } from './schema.js';

export { HttpsRedirectSchema, normalizeHttpsRedirect, type HttpsRedirectConfig } from './schema.js';

/**
 * Builds the middleware. Synchronous and allocation-free for HTTPS requests.
 *
 * @example
 * const mw = createHttpsRedirect({ status: 308, port: 443 });
 * mw.handle(ctx); // plain HTTP: { status: 308, headers: ['location', 'https://example.com/a?b=1', …] }
 */
export function createHttpsRedirect(config: HttpsRedirectConfig): Middleware {
  const port = config.port === 443 ? '' : `:${config.port}`;
  return {
    name: 'httpsRedirect',
    handle(ctx: RequestContext): Answer | null {
      if (ctx.scheme === 'https') return null;
      const host = hostOf(ctx.rawHeaders);
      // Without a Host (HTTP/1.0) there is no URL to send the client to; the request goes on.
      if (host === '') return null;
      const location = `https://${host}${port}${ctx.path}${ctx.query === '' ? '' : `?${ctx.query}`}`;
      return { status: config.status, headers: ['location', location, 'cache-control', 'no-store'], body: '' };
    },
  };
}

/** The request's host without its port (`[::1]` kept bracketed); '' when it sent none. */
export function hostOf(raw: readonly string[]): string {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if ((name.length === 4 && name.toLowerCase() === 'host') || name === ':authority') return stripPort(raw[i + 1]!.trim());
  }
  return '';
}

function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    return close === -1 ? host : host.slice(0, close + 1);
  }
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}
