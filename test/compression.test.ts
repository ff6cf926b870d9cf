/**
 * Response compression through the real gateway: negotiation, what is never compressed,
 * streamed bodies flushed as they come, event streams, backpressure from a slow client,
 * a client that leaves, and the route cache storing one uncompressed copy for every
 * client.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { request } from 'undici';
import { zstdAvailable } from '../src/middlewares/compression/schema.js';
import { startBackend, type Backend } from './helpers/backend.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

const LARGE_BODY = JSON.stringify({ items: Array.from({ length: 5000 }, (_, i) => ({ id: i, name: `item number ${i}` })) });
const JSON_BODY = JSON.stringify({ items: Array.from({ length: 300 }, (_, i) => ({ id: i, name: `item number ${i}`, tags: ['a', 'b', 'c'] })) });

function decode(encoding: string | undefined, body: Buffer): string {
  switch (encoding) {
    case 'gzip':
      return zlib.gunzipSync(body).toString();
    case 'br':
      return zlib.brotliDecompressSync(body).toString();
    case 'zstd':
      return (zlib as unknown as { zstdDecompressSync(b: Buffer): Buffer }).zstdDecompressSync(body).toString();
    default:
      return body.toString();
  }
}

describe('response compression', () => {
  let backend: Backend;
  let gw: TestGateway;
  let backendWritten = 0;
  let backendHits = 0;
  before(async () => {
    backend = await startBackend((req, res) => {
      backendHits++;
      const url = req.url ?? '/';
      if (url === '/json-large') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(LARGE_BODY) });
        res.end(LARGE_BODY);
      } else if (url.startsWith('/json') || url.startsWith('/cached')) {
        const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(JSON_BODY), etag: '"v1"' };
        if (url.startsWith('/cached')) headers['cache-control'] = 'public, max-age=60';
        if (req.headers['if-none-match'] === 'W/"v1"' || req.headers['if-none-match'] === '"v1"') {
          res.writeHead(304, { etag: '"v1"' });
          res.end();
          return;
        }
        res.writeHead(200, headers);
        res.end(JSON_BODY);
      } else if (url === '/already') {
        const gz = zlib.gzipSync(JSON_BODY);
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': gz.length });
        res.end(gz);
      } else if (url === '/no-transform') {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-transform' });
        res.end(JSON_BODY);
      } else if (url === '/range') {
        res.writeHead(206, { 'content-type': 'application/json', 'content-range': `bytes 0-1999/${JSON_BODY.length}`, 'content-length': 2000 });
        res.end(JSON_BODY.slice(0, 2000));
      } else if (url === '/small') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 11 });
        res.end('{"ok":true}');
      } else if (url === '/png') {
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': JSON_BODY.length });
        res.end(JSON_BODY);
      } else if (url === '/lines' || url.startsWith('/events')) {
        res.writeHead(200, { 'content-type': url === '/lines' ? 'text/plain' : 'text/event-stream' });
        let n = 0;
        const timer = setInterval(() => {
          res.write(url === '/lines' ? `line ${n}\n` : `data: event ${n}\n\n`);
          if (++n === 4) {
            clearInterval(timer);
            res.end();
          }
        }, 150);
        res.on('close', () => clearInterval(timer));
      } else if (url === '/big') {
        // 40 MB of hex: compresses to about half, so a client that does not read pushes back.
        const chunk = Buffer.from(randomBytes(32 * 1024).toString('hex'));
        let left = 40 * 1024 * 1024;
        res.writeHead(200, { 'content-type': 'text/plain' });
        const pump = () => {
          while (left > 0) {
            left -= chunk.length;
            backendWritten += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        res.on('close', () => (left = 0));
      } else res.end('?');
    });
    gw = await startGateway({
      upstreams: { app: { targets: [{ url: backend.url }] } },
      defaults: { compression: true },
      routes: [
        { name: 'cached', match: { pathPrefix: '/cached' }, upstream: 'app', cache: {} },
        { name: 'events', match: { pathPrefix: '/events-on' }, upstream: 'app', compression: { types: ['text/event-stream'] } },
        { name: 'plain', match: { pathPrefix: '/plain' }, upstream: 'app', compression: 'off' },
        { name: 'all', match: { pathPrefix: '/' }, upstream: 'app' },
      ],
    });
  });
  after(async () => {
    await gw?.stop();
    await backend.close();
  });

  const get = async (path: string, headers: Record<string, string> = {}, method = 'GET') => {
    const res = await request(`${gw.url}${path}`, { method, headers });
    const body = Buffer.from(await res.body.arrayBuffer());
    const h = res.headers as Record<string, string | undefined>;
    return { status: res.statusCode, headers: h, body, text: () => decode(h['content-encoding'], body) };
  };

  it('negotiates from Accept-Encoding with q-values; the body decodes to what the target sent', async () => {
    for (const [ae, expected] of [
      ['gzip', 'gzip'],
      ['br', 'br'],
      ['gzip;q=1, br;q=0.5', 'gzip'],
      ['br;q=0, gzip;q=0.1', 'gzip'],
      ['gzip, br, zstd', zstdAvailable() ? 'zstd' : 'br'],
    ] as const) {
      const res = await get('/json', { 'accept-encoding': ae });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-encoding'], expected, ae);
      assert.equal(res.headers['content-length'], String(res.body.length), 'a small body is compressed whole and sent with its length');
      assert.equal(res.headers['vary'], 'Accept-Encoding');
      assert.equal(res.headers['etag'], 'W/"v1"');
      assert.equal(res.text(), JSON_BODY);
      assert.ok(res.body.length < JSON_BODY.length / 4, `${expected}: ${res.body.length} bytes`);
    }
  });

  it('a large body is streamed through the encoder (no length), with every encoding', async () => {
    for (const ae of ['gzip', 'br', ...(zstdAvailable() ? ['zstd'] : [])]) {
      const res = await get('/json-large', { 'accept-encoding': ae });
      assert.equal(res.headers['content-encoding'], ae);
      assert.equal(res.headers['content-length'], undefined);
      assert.equal(res.text(), LARGE_BODY);
    }
  });

  it('no Accept-Encoding or nothing acceptable: the identity body with its length and strong ETag, and Vary', async () => {
    for (const headers of [{}, { 'accept-encoding': 'identity' }, { 'accept-encoding': 'gzip;q=0, br;q=0' }] as Record<string, string>[]) {
      const res = await get('/json', headers);
      assert.equal(res.headers['content-encoding'], undefined);
      assert.equal(res.headers['content-length'], String(JSON_BODY.length));
      assert.equal(res.headers['etag'], '"v1"');
      assert.equal(res.headers['vary'], 'Accept-Encoding');
      assert.equal(res.body.toString(), JSON_BODY);
    }
  });

  it('never compresses an encoded, ranged, no-transform, small, HEAD, 304 or unlisted-type response, nor a route with compression: off', async () => {
    const ae = { 'accept-encoding': 'gzip, br' };
    const already = await get('/already', ae);
    assert.equal(already.headers['content-encoding'], 'gzip');
    assert.equal(zlib.gunzipSync(already.body).toString(), JSON_BODY, 'passed through once, not twice');
    for (const path of ['/no-transform', '/range', '/small', '/png', '/plain/json']) {
      const res = await get(path, ae);
      assert.equal(res.headers['content-encoding'], undefined, path);
    }
    const head = await get('/json', ae, 'HEAD');
    assert.equal(head.headers['content-encoding'], undefined);
    assert.equal(head.headers['content-length'], String(JSON_BODY.length));
    const notModified = await get('/json', { ...ae, 'if-none-match': 'W/"v1"' });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers['etag'], 'W/"v1"', "the 304 carries the validator of the compressed 200 the client holds");
    assert.equal(notModified.headers['vary'], 'Accept-Encoding');
  });

  it('a streamed body is flushed as the target sends it, not held until the end', async () => {
    const res = await request(`${gw.url}/lines`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.headers['content-encoding'], 'gzip');
    const gunzip = zlib.createGunzip();
    const lines: Array<{ text: string; at: number }> = [];
    const started = performance.now();
    gunzip.on('data', (c: Buffer) => lines.push({ text: c.toString(), at: performance.now() - started }));
    for await (const chunk of res.body) gunzip.write(chunk);
    gunzip.end();
    await new Promise((resolve) => gunzip.once('end', resolve));
    assert.equal(lines.map((l) => l.text).join(''), 'line 0\nline 1\nline 2\nline 3\n');
    assert.ok(lines.length >= 3, `decoded in ${lines.length} pieces`);
    assert.ok(lines[0]!.at < 300, `the first line arrived after ${lines[0]!.at.toFixed(0)} ms, before the body ended`);
  });

  it('event streams: left alone by default; when listed, every event is decodable as it arrives', async () => {
    const off = await request(`${gw.url}/events`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(off.headers['content-encoding'], undefined);
    await off.body.dump();
    const res = await request(`${gw.url}/events-on`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.headers['content-encoding'], 'gzip');
    const gunzip = zlib.createGunzip();
    const seen: string[] = [];
    gunzip.on('data', (c: Buffer) => seen.push(c.toString()));
    let firstEventAt = -1;
    const started = performance.now();
    for await (const chunk of res.body) {
      gunzip.write(chunk);
      await sleep(5);
      if (firstEventAt < 0 && seen.join('').includes('data: event 0\n\n')) firstEventAt = performance.now() - started;
    }
    assert.ok(firstEventAt >= 0 && firstEventAt < 300, `first event decoded after ${firstEventAt.toFixed(0)} ms`);
    gunzip.end();
    await new Promise((resolve) => gunzip.once('end', resolve));
    assert.equal(seen.join(''), 'data: event 0\n\ndata: event 1\n\ndata: event 2\n\ndata: event 3\n\n');
  });

  it('the cache stores the uncompressed response once and compresses per client', async () => {
    const hits = backendHits;
    const gz = await get('/cached/a', { 'accept-encoding': 'gzip' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(gz.text(), JSON_BODY);
    const identity = await get('/cached/a');
    assert.equal(identity.headers['content-encoding'], undefined);
    assert.equal(identity.headers['x-cache'], 'HIT');
    assert.equal(identity.body.toString(), JSON_BODY);
    assert.equal(identity.headers['content-length'], String(JSON_BODY.length));
    const br1 = await get('/cached/a', { 'accept-encoding': 'br' });
    const br2 = await get('/cached/a', { 'accept-encoding': 'br' });
    assert.equal(br1.text(), JSON_BODY);
    assert.deepEqual(br2.body, br1.body);
    assert.equal(br2.headers['content-length'], String(br2.body.length), 'the second br client gets the bytes made for the first, with their length');
    assert.equal(br2.headers['vary'], 'Accept-Encoding');
    assert.equal(backendHits - hits, 1, 'one request reached the target');
    const conditional = await get('/cached/a', { 'accept-encoding': 'gzip', 'if-none-match': gz.headers['etag']! });
    assert.equal(conditional.status, 304, 'the weak ETag the client got revalidates against the stored strong one');
  });

  it('a client that does not read holds the target back (backpressure through the encoder)', async () => {
    backendWritten = 0;
    const res = await request(`${gw.url}/big`, { headers: { 'accept-encoding': 'gzip' }, highWaterMark: 16 * 1024 } as never);
    assert.equal(res.headers['content-encoding'], 'gzip');
    await sleep(1500);
    const whileStalled = backendWritten;
    assert.ok(whileStalled < 24 * 1024 * 1024, `the target wrote ${(whileStalled / 1048576).toFixed(1)} MB while the client read nothing`);
    const gunzip = zlib.createGunzip();
    let decoded = 0;
    gunzip.on('data', (c: Buffer) => (decoded += c.length));
    for await (const chunk of res.body) gunzip.write(chunk);
    gunzip.end();
    await new Promise((resolve) => gunzip.once('end', resolve));
    assert.ok(decoded >= 40 * 1024 * 1024, `decoded ${decoded} bytes`);
  });

  it('a client that leaves mid-body ends the exchange cleanly; the gateway keeps serving', async () => {
    const res = await request(`${gw.url}/big`, { headers: { 'accept-encoding': 'br' } });
    for await (const _ of res.body) break;
    await sleep(100);
    const next = await get('/json', { 'accept-encoding': 'gzip' });
    assert.equal(next.text(), JSON_BODY);
    assert.ok(gw.logs.some((l) => l['type'] === 'access' && l['path'] === '/big' && l['status'] === 499), 'the abandoned exchange was recorded as 499');
  });

  it('the access log counts the compressed bytes the client got', async () => {
    const res = await get('/json?bytes', { 'accept-encoding': 'gzip' });
    await sleep(50);
    const line = gw.logs.find((l) => l['type'] === 'access' && l['path'] === '/json?bytes');
    assert.equal(line?.['bytesOut'], res.body.length);
  });
});
