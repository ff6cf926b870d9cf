import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { hashSecret } from '../src/middlewares/auth/index.js';
import { startBackend, type Backend, type EchoBody } from './helpers/backend.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

/** The route pipeline end to end: config → middlewares → proxy, through the real gateway. */
describe('route middlewares through the gateway', () => {
  let backend: Backend;
  let gw: TestGateway;
  before(async () => {
    backend = await startBackend();
    gw = await startGateway({
      upstreams: {
        app: { targets: [{ url: backend.url }] },
        hosted: { targets: [{ url: backend.url }], hostHeader: 'target', timeouts: { total: '5s' } },
      },
      routes: [
        {
          name: 'hosted',
          match: { pathPrefix: '/hosted' },
          upstream: 'hosted',
          auth: { apiKeys: { keys: [{ name: 'ci-bot', hash: hashSecret('s3cret-key') }] }, identityHeaders: { subject: 'x-auth-subject' } },
        },
        { name: 'blocked', match: { pathPrefix: '/blocked' }, upstream: 'app', ipFilter: { deny: ['127.0.0.0/8', '::1/128'] } },
        {
          name: 'api',
          match: { pathPrefix: '/api' },
          upstream: 'app',
          cors: { origins: ['https://app.example.com'], methods: ['GET', 'POST'] },
          auth: { apiKeys: { keys: [{ name: 'ci-bot', hash: hashSecret('s3cret-key') }] }, identityHeaders: { subject: 'x-auth-subject' } },
          rateLimit: { limits: [{ rate: 3, per: '1m', burst: 3, key: 'identity' }] },
        },
      ],
    });
  });
  after(async () => {
    await gw.stop();
    await backend.close();
  });

  it('refuses a denied address with 403 before anything is forwarded', async () => {
    const res = await request(`${gw.url}/blocked/x`);
    assert.equal(res.statusCode, 403);
    assert.equal(((await res.body.json()) as { error: { code: string } }).error.code, 'BRISK_FORBIDDEN');
  });

  it('answers a CORS preflight itself', async () => {
    const res = await request(`${gw.url}/api/x`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
    });
    await res.body.dump();
    assert.equal(res.statusCode, 204);
    assert.equal(res.headers['access-control-allow-origin'], 'https://app.example.com');
  });

  it('refuses without credentials, passes the identity on (not the spoofed one), then rate limits', async () => {
    const anonymous = await request(`${gw.url}/api/x`);
    assert.equal(anonymous.statusCode, 401);
    await anonymous.body.dump();

    const ok = await request(`${gw.url}/api/x`, { headers: { 'x-api-key': 's3cret-key', 'x-auth-subject': 'admin', origin: 'https://app.example.com' } });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.ok(ok.headers['ratelimit'] !== undefined, 'RateLimit header on allowed responses');
    const echo = (await ok.body.json()) as EchoBody;
    assert.equal(echo.headers['x-auth-subject'], 'ci-bot', 'the subject comes from the gateway, not the client');

    for (let i = 0; i < 2; i++) await (await request(`${gw.url}/api/x`, { headers: { 'x-api-key': 's3cret-key' } })).body.dump();
    const limited = await request(`${gw.url}/api/x`, { headers: { 'x-api-key': 's3cret-key' } });
    assert.equal(limited.statusCode, 429);
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    assert.equal(((await limited.body.json()) as { error: { code: string } }).error.code, 'BRISK_RATE_LIMITED');
  });

  it('a spoofed identity header removed by auth does not shift the headers filled in per try (Host, deadline, traceparent)', async () => {
    const res = await request(`${gw.url}/hosted/x`, { headers: { 'x-auth-subject': 'admin', 'x-api-key': 's3cret-key', 'x-other': 'kept' } });
    assert.equal(res.statusCode, 200);
    const echo = (await res.body.json()) as EchoBody;
    assert.equal(echo.headers['host'], `127.0.0.1:${backend.port}`, 'hostHeader: target');
    assert.equal(echo.headers['x-auth-subject'], 'ci-bot');
    assert.equal(echo.headers['x-other'], 'kept');
    assert.match(String(echo.headers['x-brisk-timeout-ms']), /^\d+$/);
    assert.match(String(echo.headers['traceparent']), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  });

  it('reports a bad middleware config with its position', async () => {
    const { parseConfigText, formatProblem } = await import('../src/config/load.js');
    const r = parseConfigText(
      'listen: [{address: "127.0.0.1:0"}]\nupstreams: {a: {targets: [{url: "http://127.0.0.1:1"}]}}\nroutes:\n  - name: r\n    upstream: a\n    ipFilter: { deny: ["10.0.0.0/33"] }\n',
      'm.yaml',
    );
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(formatProblem(r.problems[0]!), /^m\.yaml:6:\d+ {2}routes\.0\.ipFilter\.deny\.0 {2}/);
  });
});
