import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { Dispatcher } from 'undici';
import { H2Pool } from './pool.js';

interface Result {
  status: number;
  body: string;
  trailers: Record<string, string>;
  error: string | null;
}

/** Sends one request through the pool with undici's handler callbacks; `pauseFirst` holds the body for a while after its first chunk. */
function send(pool: H2Pool, options: Partial<Dispatcher.DispatchOptions>, pauseFirstMs = 0): Promise<Result> {
  return new Promise((resolve) => {
    const r: Result = { status: 0, body: '', trailers: {}, error: null };
    let resume: () => void = () => {};
    pool.dispatch({ path: '/', method: 'GET', headers: [], ...options } as Dispatcher.DispatchOptions, {
      onConnect() {},
      onHeaders(status: number, _h: Buffer[], res: () => void) {
        r.status = status;
        resume = res;
        return true;
      },
      onData(chunk: Buffer) {
        r.body += chunk.toString();
        if (pauseFirstMs > 0 && r.body.length === chunk.length) {
          setTimeout(resume, pauseFirstMs);
          return false;
        }
        return true;
      },
      onComplete(trailers: Buffer[] | null) {
        for (let i = 0; trailers !== null && i < trailers.length; i += 2) r.trailers[trailers[i]!.toString()] = trailers[i + 1]!.toString();
        resolve(r);
      },
      onError(err: Error) {
        r.error = (err as { code?: string }).code ?? err.message;
        resolve(r);
      },
    } as unknown as Dispatcher.DispatchHandler);
  });
}

describe('H2Pool: HTTP/2 sessions behind undici’s dispatch contract', () => {
  let server: http2.Http2Server;
  let port = 0;
  let concurrent = 0;
  let maxConcurrent = 0;
  let refuseNext = 0;
  const pools: H2Pool[] = [];
  const pool = (connections = 1): H2Pool => {
    const p = new H2Pool(`http://127.0.0.1:${port}`, { host: '127.0.0.1', port, tls: null, alpn: [], timeoutMs: 1000 }, { connections, headersTimeoutMs: 2000, bodyTimeoutMs: 2000, keepAliveTimeoutMs: 5000, maxHeaderSize: 65536 });
    pools.push(p);
    return p;
  };

  before(async () => {
    server = http2.createServer();
    server.on('stream', (stream, headers) => {
      stream.on('error', () => {});
      if (refuseNext > 0) {
        refuseNext--;
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      stream.on('close', () => concurrent--);
      const path = headers[':path'];
      if (path === '/trailers') {
        stream.respond({ ':status': 200 }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-bin': 'AAE=' }));
        stream.write('a');
        stream.write('b');
        stream.end('c');
        return;
      }
      let body = '';
      stream.on('data', (c: Buffer) => (body += c.toString()));
      stream.on('end', () =>
        setTimeout(() => {
          stream.respond({ ':status': 201, 'x-authority': String(headers[':authority']) });
          stream.end(`got ${body}`);
        }, 50),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });

  after(async () => {
    await Promise.all(pools.map((p) => p.destroy()));
    server.close();
  });

  test('multiplexes streamed POSTs on one connection (undici’s h2 client would send them one at a time)', async () => {
    const p = pool(1);
    maxConcurrent = 0;
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => send(p, { method: 'POST', body: Readable.from([Buffer.from(`m${i}`)]) })));
    assert.deepEqual(results.map((r) => r.body), Array.from({ length: 10 }, (_, i) => `got m${i}`));
    assert.equal(maxConcurrent, 10, 'all ten streams were open at once');
    assert.ok(Date.now() - started < 400, 'in about one server delay, not ten');
    assert.equal(p.stats.connected, 1);
  });

  test('delivers every body chunk before the trailers, even when the caller paused', async () => {
    const r = await send(pool(), { path: '/trailers' }, 100);
    assert.equal(r.body, 'abc');
    assert.deepEqual(r.trailers, { 'grpc-status': '0', 'x-bin': 'AAE=' });
  });

  test('sends the Host header as :authority', async () => {
    const r = await send(pool(), { method: 'POST', body: 'x', headers: ['host', 'api.example', 'x-a', '1'] });
    assert.equal(r.status, 201);
    assert.equal(r.body, 'got x');
  });

  test('a refused stream fails with a code that says it was never processed', async () => {
    refuseNext = 1;
    const r = await send(pool(), { method: 'POST', body: 'x' });
    assert.equal(r.error, 'UND_ERR_H2_REFUSED');
  });

  test('a closed pool refuses new requests and resolves close once idle', async () => {
    const p = pool();
    await send(p, { method: 'POST', body: 'x' });
    await p.close();
    assert.equal((await send(p, {})).error, 'UND_ERR_CLOSED');
  });

  test('a connection refused fails the waiting requests', async () => {
    const p = new H2Pool('http://127.0.0.1:1', { host: '127.0.0.1', port: 1, tls: null, alpn: [], timeoutMs: 500 }, { connections: 1, headersTimeoutMs: 1000, bodyTimeoutMs: 1000, keepAliveTimeoutMs: 1000, maxHeaderSize: 65536 });
    pools.push(p);
    assert.equal((await send(p, {})).error, 'ECONNREFUSED');
  });
});
