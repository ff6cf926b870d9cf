import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { rawRequest } from './helpers/raw.js';
import { startBackend, type Backend, type EchoBody } from './helpers/backend.js';
import { simpleConfig, startGateway, type TestGateway } from './helpers/gateway.js';

describe('proxy basics', () => {
  let a: Backend;
  let b: Backend;
  let gw: TestGateway;
  before(async () => {
    a = await startBackend();
    b = await startBackend();
    gw = await startGateway({
      upstreams: {
        app: { targets: [{ url: a.url }, { url: b.url }] },
        dead: { targets: [{ url: 'http://127.0.0.1:1' }] },
      },
      routes: [
        { name: 'api', match: { pathPrefix: '/api', methods: ['GET', 'POST'] }, upstream: 'app', rewrite: { stripPrefix: '/api' }, responseHeaders: { set: { 'x-route': 'api' } } },
        { name: 'dead', match: { pathPrefix: '/dead' }, upstream: 'dead' },
      ],
    });
  });
  after(async () => {
    await gw.stop();
    await a.close();
    await b.close();
  });

  it('forwards to both targets in turn, rewriting the path and keeping the query', async () => {
    const ports = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const res = await request(`${gw.url}/api/items?x=1&y=2`);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['x-route'], 'api');
      const body = (await res.body.json()) as EchoBody;
      assert.equal(body.url, '/items?x=1&y=2');
      ports.add(String(body.headers['x-forwarded-for']) + body.headers['host']);
    }
    assert.equal(a.server.listening && b.server.listening, true);
  });

  it('sets forwarding headers, strips hop-by-hop ones and echoes the request id', async () => {
    // A raw request: well-behaved clients refuse to send some of these headers.
    const reply = await rawRequest(
      gw.port,
      'GET /api/h HTTP/1.1\r\nHost: example.test\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close, x-secret\r\nX-Secret: hush\r\nKeep-Alive: timeout=5\r\n' +
        'X-Request-Id: abc-123\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n',
    );
    assert.equal(reply.status, 200);
    const body = JSON.parse(reply.text.slice(reply.text.indexOf('\r\n\r\n') + 4)) as EchoBody;
    const res = { headers: { 'x-request-id': /x-request-id: (.*)\r\n/i.exec(reply.text)?.[1] } };
    assert.equal(body.headers['x-forwarded-for'], '127.0.0.1', 'an untrusted client cannot forge X-Forwarded-For');
    assert.equal(body.headers['x-secret'], undefined, 'headers named in Connection are removed');
    assert.equal(body.headers['keep-alive'], undefined);
    assert.equal(body.headers['x-request-id'], 'abc-123');
    // The trace goes on; the target's parent is the gateway's span for this try (W3C Trace Context).
    assert.match(body.headers['traceparent'] as string, /^00-4bf92f3577b34da6a3ce929d0e0e4736-(?!00f067aa0ba902b7)[0-9a-f]{16}-01$/);
    assert.equal(body.headers['x-forwarded-proto'], 'http');
    assert.equal(body.headers['forwarded'], 'for=127.0.0.1;proto=http;host="example.test"');
    assert.equal(body.headers['host'], 'example.test');
    assert.equal(body.headers['via'], '1.1 brisk');
    assert.equal(res.headers['x-request-id'], 'abc-123');
  });

  it('answers 404 with a JSON error when no route matches', async () => {
    const res = await request(`${gw.url}/nowhere`, { method: 'DELETE' });
    assert.equal(res.statusCode, 404);
    const body = (await res.body.json()) as { error: { code: string; message: string; requestId: string } };
    assert.equal(body.error.code, 'BRISK_ROUTE_NOT_FOUND');
    assert.equal(typeof body.error.requestId, 'string');
    assert.equal(res.headers['x-request-id'], body.error.requestId);
  });

  it('keeps the connection open after a 404 for a bodiless request', async () => {
    const reply = await rawRequest(gw.port, 'GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\nGET /api/again HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    const statuses = [...reply.text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
    assert.deepEqual(statuses, ['404', '200']);
  });

  it('answers 502 BRISK_UPSTREAM_CONNECT_FAILED when the target refuses', async () => {
    const res = await request(`${gw.url}/dead`);
    assert.equal(res.statusCode, 502);
    const body = (await res.body.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'BRISK_UPSTREAM_CONNECT_FAILED');
  });

  it('writes one access log line per request', async () => {
    const res = await request(`${gw.url}/api/logged`, { headers: { 'x-request-id': 'log-me' } });
    await res.body.dump();
    await new Promise((r) => setTimeout(r, 20));
    const line = gw.logs.find((l) => l['type'] === 'access' && l['requestId'] === 'log-me');
    assert.ok(line, 'access log line present');
    assert.equal(line['route'], 'api');
    assert.equal(line['upstream'], 'app');
    assert.equal(line['status'], 200);
    assert.equal(typeof line['durationMs'], 'number');
  });

  it('counts the bytes of answers Brisk writes itself (errors) in the access log', async () => {
    const res = await request(`${gw.url}/nowhere`, { headers: { 'x-request-id': 'log-404' } });
    const text = await res.body.text();
    await new Promise((r) => setTimeout(r, 20));
    const line = gw.logs.find((l) => l['type'] === 'access' && l['requestId'] === 'log-404');
    assert.ok(line, 'access log line present');
    assert.equal(line['bytesOut'], Buffer.byteLength(text));
  });
});

describe('simpleConfig helper', () => {
  it('builds a catch-all route', () => {
    const c = simpleConfig(['http://127.0.0.1:1']);
    assert.deepEqual((c['routes'] as { name: string }[])[0]!.name, 'all');
  });
});
