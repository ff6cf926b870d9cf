import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RequestContext } from '../../core/middleware.js';
import { createHttpsRedirect, hostOf } from './index.js';
import { normalizeHttpsRedirect } from './schema.js';

const ctx = (scheme: 'http' | 'https' | undefined, rawHeaders: string[], path = '/p', query = ''): RequestContext =>
  ({ scheme, rawHeaders, path, query }) as unknown as RequestContext;

describe('httpsRedirect', () => {
  const mw = createHttpsRedirect(normalizeHttpsRedirect(true).config!);

  it('redirects plain HTTP (or a context that does not say) to the same URL on HTTPS', () => {
    assert.deepEqual(mw.handle(ctx('http', ['Host', 'a.example:80'], '/x', 'q=1')), { status: 308, headers: ['location', 'https://a.example/x?q=1', 'cache-control', 'no-store'], body: '' });
    assert.equal((mw.handle(ctx(undefined, [':authority', 'b.example'])) as { status: number }).status, 308);
  });

  it('lets HTTPS through, and a request without a host (nowhere to send it)', () => {
    assert.equal(mw.handle(ctx('https', ['host', 'a.example'])), null);
    assert.equal(mw.handle(ctx('http', [])), null);
  });

  it('names a port other than 443, and takes the status asked for', () => {
    const other = createHttpsRedirect(normalizeHttpsRedirect({ port: 8443, status: 301 }).config!);
    assert.deepEqual(other.handle(ctx('http', ['host', '[2001:db8::1]:8080'])), { status: 301, headers: ['location', 'https://[2001:db8::1]:8443/p', 'cache-control', 'no-store'], body: '' });
  });

  it('hostOf drops the port, keeps IPv6 brackets', () => {
    assert.equal(hostOf(['Host', 'x.example:8080']), 'x.example');
    assert.equal(hostOf(['host', '[::1]:1']), '[::1]');
    assert.equal(hostOf(['accept', '*/*']), '');
  });
});
