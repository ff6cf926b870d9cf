/**
 * Interim answers and open-ended streams through the gateway: a target's `103 Early Hints`
 * and `102 Processing` reach the client before the final answer, and an event stream is
 * not cut by the route's `timeouts.total` while it keeps producing (only its idle timeout
 * bounds it), while any other answer still is.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { openRaw } from './helpers/wire.js';

describe('interim answers and event streams', () => {
  let server: http.Server;
  let gw: TestGateway;

  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/hints') {
        res.writeEarlyHints({ link: ['</style.css>; rel=preload; as=style', '</app.js>; rel=preload; as=script'] });
        setTimeout(() => res.end('page'), 50);
      } else if (req.url === '/processing') {
        res.writeProcessing();
        setTimeout(() => res.end('done'), 50);
      } else if (req.url === '/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
        let n = 0;
        const tick = setInterval(() => {
          n++;
          res.write(`data: tick ${n}\n\n`);
          if (n === 5) {
            clearInterval(tick);
            res.end();
          }
        }, 150);
      } else if (req.url === '/drip') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        let n = 0;
        const tick = setInterval(() => {
          if (res.destroyed || ++n > 10) {
            clearInterval(tick);
            res.end();
            return;
          }
          res.write(`chunk ${n}\n`);
        }, 150);
      } else res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    gw = await startGateway({
      upstreams: { app: { targets: [{ url }], timeouts: { total: '400ms' } } },
      routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'app' }],
    });
  });

  after(async () => {
    await gw?.stop();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  it('passes 103 Early Hints on before the final answer, with their Link fields', async () => {
    const conn = await openRaw(gw.port);
    try {
      conn.write('GET /hints HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.ok(await conn.waitFor((t) => t.includes('page'), 3000), conn.text());
      const text = conn.text();
      const hints = text.indexOf('HTTP/1.1 103');
      const final = text.indexOf('HTTP/1.1 200');
      assert.ok(hints !== -1 && final > hints, `103 before 200:\n${text}`);
      const interim = text.slice(hints, final).toLowerCase();
      assert.match(interim, /link: <\/style\.css>; rel=preload; as=style/);
      assert.match(interim, /<\/app\.js>; rel=preload; as=script/);
    } finally {
      conn.destroy();
    }
  });

  it('passes 102 Processing on before the final answer', async () => {
    const conn = await openRaw(gw.port);
    try {
      conn.write('GET /processing HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.ok(await conn.waitFor((t) => t.includes('done'), 3000), conn.text());
      const text = conn.text();
      assert.ok(text.indexOf('HTTP/1.1 102') !== -1 && text.indexOf('HTTP/1.1 102') < text.indexOf('HTTP/1.1 200'), text);
    } finally {
      conn.destroy();
    }
  });

  it('lets an event stream run past timeouts.total while it produces', async () => {
    const res = await fetch(`${gw.url}/events`);
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.equal(body.match(/data: tick \d/g)?.length, 5, body);
    const line = gw.logs.find((l) => l['msg'] === 'request' && l['url'] === '/events') ?? gw.logs.find((l) => l['url'] === '/events');
    assert.equal(line?.['error'] ?? null, null, 'no error logged for a stream that completed');
  });

  it('still cuts any other answer at timeouts.total (the body is visibly incomplete)', async () => {
    const conn = await openRaw(gw.port);
    try {
      conn.write('GET /drip HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.ok(await conn.waitClosed(3000), 'the gateway closed the connection');
      const text = conn.text();
      assert.match(text, /^HTTP\/1\.1 200 /);
      assert.ok(!text.includes('chunk 10'), 'cut before the end');
      assert.ok(!text.includes('\r\n0\r\n\r\n'), 'no terminating chunk');
    } finally {
      conn.destroy();
    }
  });
});
