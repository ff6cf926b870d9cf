/**
 * Gateway-wide policies (`defaults`) through the real gateway: one rate-limit bucket per
 * client across every route, limits by client address counted before auth (key guessing
 * is limited), and routes that override or opt out.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { hashSecret } from '../src/middlewares/auth/index.js';
import { startBackend, type Backend, type EchoBody } from './helpers/backend.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

const GOOD_KEY = 'good-key-0123456789abcdef';
const OTHER_KEY = 'other-key-0123456789abcdef';

describe('gateway-wide defaults', () => {
  let backend: Backend;
  let gw: TestGateway;
  before(async () => {
    backend = await startBackend();
    gw = await startGateway({
      upstreams: { app: { targets: [{ url: backend.url }] } },
      defaults: {
        rateLimit: { limits: [{ name: 'per-ip', rate: 5, per: '1s', key: 'ip' }] },
        auth: { apiKeys: { keys: [{ name: 'good', hash: hashSecret(GOOD_KEY, 'sha256') }] } },
        responseHeaders: { set: { 'Strict-Transport-Security': 'max-age=63072000' } },
        requestHeaders: { set: { 'X-Gateway': 'brisk', 'X-Req': '${requestId}' } },
      },
      routes: [
        { name: 'a', match: { pathPrefix: '/a' }, upstream: 'app' },
        { name: 'b', match: { pathPrefix: '/b' }, upstream: 'app' },
        { name: 'c', match: { pathPrefix: '/c' }, upstream: 'app' },
        { name: 'public', match: { pathPrefix: '/public' }, upstream: 'app', auth: 'off', rateLimit: 'off', responseHeaders: 'off' },
        {
          name: 'own',
          match: { pathPrefix: '/own' },
          upstream: 'app',
          auth: { apiKeys: { keys: [{ name: 'other', hash: hashSecret(OTHER_KEY, 'sha256') }] }, hideCredentials: false },
          rateLimit: { limits: [{ rate: 1000, per: '1s' }] },
        },
      ],
    });
  });
  after(async () => {
    await gw.stop();
    await backend.close();
  });

  it('a 5 req/s per-IP default is one bucket across routes: burst + rate × elapsed pass, within 5 %', async () => {
    await sleep(1100); // a full bucket
    const routes = ['/a/x', '/b/x', '/c/x'];
    let allowed = 0;
    let limited = 0;
    const started = performance.now();
    let last = started;
    for (let i = 0; i < 160; i++) {
      const res = await request(`${gw.url}${routes[i % 3]}`, { headers: { 'x-api-key': GOOD_KEY } });
      await res.body.dump();
      if (res.statusCode === 200) allowed++;
      else if (res.statusCode === 429) limited++;
      else assert.fail(`unexpected status ${res.statusCode}`);
      last = performance.now();
      await sleep(20);
    }
    const elapsedS = (last - started) / 1000;
    const expected = 5 + 5 * elapsedS;
    assert.ok(elapsedS > 3, `the test ran ${elapsedS} s`);
    assert.ok(Math.abs(allowed - expected) <= Math.max(1, expected * 0.05), `allowed ${allowed}, expected ${expected.toFixed(1)} ± 5 % (limited ${limited})`);
    // Three buckets would have let about three times as many through.
    assert.ok(allowed < expected * 1.5);
  });

  it('100 wrong API keys in a second from one IP are limited before any key is checked', async () => {
    await sleep(1100);
    const statuses: number[] = [];
    const refusedBefore = gw.logs.filter((l) => l['msg'] === 'API key refused').length;
    const started = performance.now();
    for (let i = 0; i < 100; i++) {
      const res = await request(`${gw.url}/a/login`, { headers: { 'x-api-key': `guess-${i}-0123456789abcdef` } });
      await res.body.dump();
      statuses.push(res.statusCode);
      const wait = started + (i + 1) * 10 - performance.now();
      if (wait > 0) await sleep(wait);
    }
    const elapsedS = (performance.now() - started) / 1000;
    const unauthorized = statuses.filter((s) => s === 401).length;
    const limited = statuses.filter((s) => s === 429).length;
    assert.equal(unauthorized + limited, 100, `only 401 and 429: ${statuses.join(',')}`);
    assert.ok(unauthorized <= 5 + Math.ceil(5 * elapsedS) + 1, `${unauthorized} guesses reached auth in ${elapsedS.toFixed(2)} s`);
    assert.ok(limited >= 85, `${limited} limited`);
    // A limited guess never reached auth: only the guesses answered 401 were checked.
    const checked = gw.logs.filter((l) => l['msg'] === 'API key refused').length - refusedBefore;
    assert.equal(checked, unauthorized);
  });

  it('a refusal by the gateway-wide limit names it, with Retry-After', async () => {
    let res;
    for (let i = 0; i < 20; i++) {
      res = await request(`${gw.url}/b/x`, { headers: { 'x-api-key': GOOD_KEY } });
      if (res.statusCode === 429) break;
      await res.body.dump();
    }
    assert.equal(res!.statusCode, 429);
    assert.ok(Number(res!.headers['retry-after']) >= 1);
    const body = (await res!.body.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'BRISK_RATE_LIMITED');
    assert.match(body.error.message, /^the gateway-wide defaults\.rateLimit: rate limit "per-ip" \(5 per 1s by ip\) exceeded/);
  });

  it('a route that opts out or has its own value is not held by the defaults', async () => {
    // The gateway bucket is empty now (previous test); these routes do not use it.
    for (let i = 0; i < 10; i++) {
      const pub = await request(`${gw.url}/public/x`);
      assert.equal(pub.statusCode, 200, 'auth: off and rateLimit: off');
      assert.equal(pub.headers['strict-transport-security'], undefined, 'responseHeaders: off');
      await pub.body.dump();
    }
    const own = await request(`${gw.url}/own/x`, { headers: { 'x-api-key': OTHER_KEY } });
    assert.equal(own.statusCode, 200, 'its own auth and its own limit');
    assert.equal(own.headers['strict-transport-security'], 'max-age=63072000', 'default header edits still apply');
    const echo = (await own.body.json()) as EchoBody;
    assert.equal(echo.headers['x-api-key'], OTHER_KEY, 'hideCredentials: false on this route');
    assert.equal(echo.headers['x-gateway'], 'brisk');
    assert.match(String(echo.headers['x-req']), /^[0-9a-f-]{36}$/);
    const defaultKey = await request(`${gw.url}/own/x`, { headers: { 'x-api-key': GOOD_KEY } });
    assert.equal(defaultKey.statusCode, 401, "the route's auth replaced the default one");
    await defaultKey.body.dump();
  });

  it('routes that take the default auth never pass the raw key to the target', async () => {
    await sleep(1100);
    const res = await request(`${gw.url}/c/x`, { headers: { 'x-api-key': GOOD_KEY } });
    assert.equal(res.statusCode, 200);
    const echo = (await res.body.json()) as EchoBody;
    assert.equal(echo.headers['x-api-key'], undefined);
    assert.equal(echo.headers['x-auth-subject'], 'good');
  });
});
