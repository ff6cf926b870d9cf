/**
 * A request context for the rate-limit unit tests (the middleware only reads
 * `clientIp`, `rawHeaders`, `identity` and `routeName`, and writes `responseHeaders`).
 */
import type { Identity, RequestContext } from '../../core/middleware.js';

export function testContext(over: { clientIp?: string; rawHeaders?: string[]; identity?: Identity | null; routeName?: string } = {}): RequestContext {
  return {
    method: 'GET',
    path: '/',
    query: '',
    rawHeaders: over.rawHeaders ?? [],
    clientIp: over.clientIp ?? '10.0.0.1',
    requestId: 'test',
    routeName: over.routeName ?? 'api',
    params: null,
    upstreamHeaders: [],
    responseHeaders: null,
    identity: over.identity ?? null,
    onFinish: () => {},
  };
}
