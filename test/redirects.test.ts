/**
 * Redirects through the real gateway: `httpsRedirect` (per route and gateway-wide, over a
 * plain and a TLS listener, behind a trusted proxy) and redirect routes (parameters, the
 * rest of a path, the host, the query, statuses), and the config problems they give.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { formatProblem, parseConfigText } from '../src/config/load.js';
import { startBackend, type Backend } from './helpers/backend.js';
import { findExecutable } from './helpers/executables.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { rawRequest } from './helpers/raw.js';

/** The TLS case needs openssl to make a certificate. */
const HAS_OPENSSL = findExecutable(null, ['openssl']) !== undefined;

describe('redirects', () => {
  let backend: Backend;
  let gw: TestGateway;
  let dir: string;
  const insecure = new Agent({ connect: { rejectUnauthorized: false } });
  before(async () => {
    backend = await startBackend();
    dir = mkdtempSync(join(tmpdir(), 'brisk-redirect-'));
    const tls = HAS_OPENSSL;
    if (tls) {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    }
    gw = await startGateway({
      listen: [{ address: '127.0.0.1:0' }, ...(tls ? [{ address: '127.0.0.1:0', tls: { certificates: [{ cert: join(dir, 'c.pem'), key: join(dir, 'k.pem') }], http2: false } }] : [])],
      upstreams: { app: { targets: [{ url: backend.url }] } },
      defaults: { httpsRedirect: true },
      routes: [
        { name: 'acme', match: { pathPrefix: '/.well-known/acme-challenge' }, upstream: 'app', httpsRedirect: 'off' },
        { name: 'old-docs', match: { path: '/docs/v1/:page' }, redirect: { to: '/docs/v2/:page', status: 301 }, httpsRedirect: 'off' },
        { name: 'moved', match: { path: '/moved/*' }, redirect: { to: 'https://new.example.com/${*}', keepQuery: false }, httpsRedirect: 'off' },
        { name: 'same-host', match: { pathPrefix: '/legacy' }, redirect: { to: 'https://${host}:8443${path}', status: 307 }, httpsRedirect: 'off' },
        { name: 'sneaky', match: { path: '/go/*' }, redirect: { to: '/${*}' }, httpsRedirect: 'off' },
        { name: 'custom-port', match: { pathPrefix: '/port' }, upstream: 'app', httpsRedirect: { status: 301, port: 8443 } },
        { name: 'app', match: { pathPrefix: '/' }, upstream: 'app' },
      ],
      proxy: { trustedProxies: ['10.0.0.0/8'] },
    });
  });
  after(async () => {
    await gw?.stop();
    await backend.close();
    await insecure.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = async (path: string, headers: Record<string, string> = {}, base = gw.url) => {
    const res = await request(`${base}${path}`, { headers, dispatcher: insecure });
    await res.body.dump();
    return { status: res.statusCode, location: res.headers['location'] as string | undefined };
  };

  it('a plain-HTTP request gets a 308 to the same host, path and query on HTTPS', async () => {
    assert.deepEqual(await get('/a/b?x=1&y=2', { host: 'shop.example.com:8080' }), { status: 308, location: 'https://shop.example.com/a/b?x=1&y=2' });
    assert.deepEqual(await get('/port/x', { host: 'shop.example.com' }), { status: 301, location: 'https://shop.example.com:8443/port/x' });
    assert.deepEqual(await get('/v', { host: '[::1]:8080' }), { status: 308, location: 'https://[::1]/v' });
  });

  it('a route with httpsRedirect: off is served over plain HTTP', async () => {
    assert.equal((await get('/.well-known/acme-challenge/token')).status, 200);
  });

  it('X-Forwarded-Proto counts only from a trusted proxy', async () => {
    // 127.0.0.1 is not in proxy.trustedProxies: its X-Forwarded-Proto is not believed.
    assert.equal((await get('/a', { 'x-forwarded-proto': 'https' })).status, 308);
  });

  it('a request that came over TLS goes on', { skip: !HAS_OPENSSL && 'openssl is not installed' }, async () => {
    assert.equal((await get('/a', {}, `https://127.0.0.1:${gw.ports[1]}`)).status, 200);
  });

  it('a redirect route fills route parameters and keeps the query', async () => {
    assert.deepEqual(await get('/docs/v1/intro?lang=en'), { status: 301, location: '/docs/v2/intro?lang=en' });
    assert.deepEqual(await get('/docs/v1/a%20b'), { status: 301, location: '/docs/v2/a%20b' });
  });

  it('the rest of a path, the host and the path of the request; keepQuery: false drops the query', async () => {
    assert.deepEqual(await get('/moved/a/b/c?drop=1'), { status: 302, location: 'https://new.example.com/a/b/c' });
    assert.deepEqual(await get('/legacy/x?k=v', { host: 'shop.example.com:8080' }), { status: 307, location: 'https://shop.example.com:8443/legacy/x?k=v' });
  });

  it('a path target never sends the client to another host', async () => {
    const res = await rawRequest(gw.port, 'GET /go//evil.example/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.equal(res.status, 302);
    assert.match(res.text, /\r\nlocation: \/evil\.example\/x\r\n/i);
  });

  it('config problems are positioned: an unknown placeholder, two route kinds, a target that is no path or URL', () => {
    const base = 'listen: [{ address: "127.0.0.1:0" }]\nupstreams: { app: { targets: [{ url: "http://127.0.0.1:1" }] } }\nroutes:\n';
    const unknown = parseConfigText(`${base}  - { name: r, match: { path: "/a/:id" }, redirect: { to: "/b/:name" } }\n`, 'r.yaml');
    assert.equal(unknown.ok, false);
    if (!unknown.ok) assert.match(formatProblem(unknown.problems[0]!), /^r\.yaml:4:\d+ {2}routes\.0\.match {2}route "r": redirect\.to "\/b\/:name" uses "name", which the route does not capture \(known: \$\{id\}, \$\{host\}, \$\{path\}\)/);
    const both = parseConfigText(`${base}  - { name: r, upstream: app, redirect: { to: "/b" } }\n`, 'r.yaml');
    assert.equal(both.ok, false);
    if (!both.ok) assert.match(formatProblem(both.problems[0]!), /routes\.0\.redirect {2}a route has one of upstream, aggregate or redirect, not upstream and redirect/);
    const bad = parseConfigText(`${base}  - { name: r, redirect: { to: "ftp://x/y" } }\n`, 'r.yaml');
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.match(formatProblem(bad.problems[0]!), /routes\.0\.redirect\.to {2}expected a path \("\/new\/path"\) or an http\(s\) URL/);
  });
});
