/**
 * The lean HTTP/1.1 upstream transport (`pool.transport: lean`) through a real gateway,
 * chosen by the config (not by `BRISK_UPSTREAM_TRANSPORT`), so the suite always covers its
 * wiring: keep-alive reuse, a refused target retried on another one, a malformed answer as
 * a 502 with its code, a streamed upload, and an unusual request handed to undici.
 * The transport itself is tested in src/upstreams/h1/*.test.ts; the whole suite can run on
 * it (the default), or on undici with `BRISK_UPSTREAM_TRANSPORT=undici`.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { H1Pool } from '../src/upstreams/h1/pool.js';
import { startBackend, type Backend } from './helpers/backend.js';
import { freePort } from './helpers/free-port.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

// Both transports, chosen by the config: lean (the default) and undici (the way back, still
// in use for TLS and HTTP/2 targets), so the suite covers the wiring of each.
for (const transport of ['lean', 'undici'] as const)
describe(`the ${transport} upstream transport through the gateway`, () => {
  let good: Backend;
  let garbage: net.Server;
  let garbageUrl = '';
  let gw: TestGateway;
  let connections = 0;
  const bodies: string[] = [];

  before(async () => {
    good = await startBackend((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        bodies.push(body);
        res.end(`good ${req.method} ${body.length}`);
      });
    });
    good.server.on('connection', () => connections++);
    garbage = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc'));
    });
    await new Promise<void>((r) => garbage.listen(0, '127.0.0.1', r));
    garbageUrl = `http://127.0.0.1:${(garbage.address() as net.AddressInfo).port}`;
    const dead = `http://127.0.0.1:${await freePort()}`;
    const lean = { transport };
    gw = await startGateway({
      upstreams: {
        app: {
          targets: [{ url: dead }, { url: good.url }],
          balancer: 'round-robin',
          pool: lean,
          retry: { attempts: 2, backoff: { base: '1ms', max: '5ms' } },
          outlierDetection: { consecutiveGatewayFailures: 0, consecutive5xx: 0 },
        },
        bad: { targets: [{ url: garbageUrl }], pool: lean, retry: { attempts: 0 } },
        plain: { targets: [{ url: good.url }], pool: lean },
      },
      routes: [
        { name: 'bad', match: { pathPrefix: '/bad' }, upstream: 'bad' },
        { name: 'plain', match: { pathPrefix: '/plain' }, upstream: 'plain' },
        { name: 'all', match: { pathPrefix: '/' }, upstream: 'app' },
      ],
    });
  });

  after(async () => {
    await gw.stop();
    await good.close();
    garbage.close();
  });

  it(`runs the upstream on the ${transport} pool`, () => {
    const targets = gw.gw.runtime.upstreams.get('plain')?.targets ?? [];
    assert.ok(targets.length > 0 && targets.every((t) => t.pool instanceof H1Pool === (transport === 'lean')));
  });

  it('keeps one connection alive across requests', async () => {
    const before = connections;
    for (let i = 0; i < 10; i++) {
      const res = await request(`${gw.url}/plain/${i}`);
      assert.equal(await res.body.text(), 'good GET 0');
    }
    assert.equal(connections - before, 1);
  });

  it('retries a refused target on another one, for GET and for POST (nothing was sent)', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await request(`${gw.url}/x`, { method: i % 2 === 0 ? 'GET' : 'POST', body: i % 2 === 0 ? null : 'payload' });
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), i % 2 === 0 ? 'good GET 0' : 'good POST 7');
    }
  });

  it('answers a malformed answer with 502 BRISK_UPSTREAM_BAD_RESPONSE', async () => {
    const res = await request(`${gw.url}/bad`);
    assert.equal(res.statusCode, 502);
    assert.equal(((await res.body.json()) as { error: { code: string } }).error.code, 'BRISK_UPSTREAM_BAD_RESPONSE');
  });

  it('streams an upload of unknown length (chunked) to the target', async () => {
    const parts = Array.from({ length: 50 }, () => Buffer.alloc(10_000, 'u'));
    const res = await request(`${gw.url}/plain/up`, { method: 'PUT', body: Readable.from(parts) });
    assert.equal(await res.body.text(), 'good PUT 500000');
  });
});
