import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { Dispatcher } from 'undici';
import { upstreamErrorCode } from '../errors.js';
import { H1Pool, type H1PoolOptions } from './pool.js';
import { newUndiciPool } from '../../core/undici.js';

interface Result {
  status: number;
  headers: Record<string, string>;
  interim: number[];
  body: Buffer;
  trailers: Record<string, string> | null;
  error: string | null;
  /** Bytes received while the handler had asked for a pause. */
  whilePaused: number;
}

interface SendOptions {
  /** Pause after the first chunk for this long. */
  pauseMs?: number;
  /** Abort the request after this long. */
  abortMs?: number;
}

function send(pool: { dispatch: H1Pool['dispatch'] }, options: Partial<Dispatcher.DispatchOptions>, how: SendOptions = {}): Promise<Result> {
  return new Promise((resolve) => {
    const r: Result = { status: 0, headers: {}, interim: [], body: Buffer.alloc(0), trailers: null, error: null, whilePaused: 0 };
    const chunks: Buffer[] = [];
    let resume: () => void = () => {};
    let paused = false;
    let pausedOnce = false;
    const finish = (): void => {
      r.body = Buffer.concat(chunks);
      resolve(r);
    };
    pool.dispatch({ path: '/', method: 'GET', headers: [], ...options } as Dispatcher.DispatchOptions, {
      onConnect(abort: (err?: Error) => void) {
        if (how.abortMs !== undefined) setTimeout(() => abort(), how.abortMs);
      },
      onHeaders(status: number, raw: Buffer[], res: () => void) {
        if (status < 200) {
          r.interim.push(status);
          return true;
        }
        r.status = status;
        for (let i = 0; i < raw.length; i += 2) r.headers[raw[i]!.toString('latin1').toLowerCase()] = raw[i + 1]!.toString('latin1');
        resume = res;
        return true;
      },
      onData(chunk: Buffer) {
        chunks.push(Buffer.from(chunk));
        if (paused) r.whilePaused += chunk.length;
        if (how.pauseMs !== undefined && !pausedOnce) {
          pausedOnce = true;
          paused = true;
          setTimeout(() => {
            paused = false;
            resume();
          }, how.pauseMs);
          return false;
        }
        return true;
      },
      onComplete(trailers: Buffer[] | null) {
        if (trailers !== null) {
          r.trailers = {};
          for (let i = 0; i < trailers.length; i += 2) r.trailers[trailers[i]!.toString()] = trailers[i + 1]!.toString();
        }
        finish();
      },
      onError(err: Error) {
        r.error = (err as { code?: string }).code ?? err.message;
        finish();
      },
    } as unknown as Dispatcher.DispatchHandler);
  });
}

/** A server that answers every request with the bytes `answer` gives for its head (a raw socket: malformed on purpose). */
async function rawServer(answer: (head: string, socket: net.Socket) => void): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((socket) => {
    let buf = '';
    socket.on('error', () => {});
    socket.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buf.slice(0, end);
      buf = buf.slice(end + 4);
      answer(head, socket);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as net.AddressInfo).port };
}

describe('H1Pool: the lean HTTP/1.1 transport behind undici’s dispatch contract', () => {
  let server: http.Server;
  let port = 0;
  let connections = 0;
  const closers: (() => unknown)[] = [];
  const pools: H1Pool[] = [];
  const pool = (over: Partial<H1PoolOptions> = {}, at = port): H1Pool => {
    const p = new H1Pool(
      { host: '127.0.0.1', port: at, connections: 4, connectTimeoutMs: 1000, headersTimeoutMs: 5000, bodyTimeoutMs: 5000, keepAliveTimeoutMs: 5000, maxHeaderSize: 65536, ...over },
      () => newUndiciPool(`http://127.0.0.1:${at}`, { connections: 1 }),
    );
    pools.push(p);
    return p;
  };

  before(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/echo') {
        const parts: Buffer[] = [];
        req.on('data', (c: Buffer) => parts.push(c));
        req.on('end', () => {
          const body = Buffer.concat(parts);
          res.setHeader('x-te', String(req.headers['transfer-encoding']));
          res.setHeader('x-cl', String(req.headers['content-length']));
          res.setHeader('x-host', String(req.headers.host));
          res.end(body);
        });
        return;
      }
      if (url.pathname === '/chunked') {
        res.writeHead(200, { trailer: 'x-sum' });
        res.write('ab');
        setTimeout(() => {
          res.write('cd');
          res.addTrailers({ 'x-sum': '4' });
          res.end();
        }, 20);
        return;
      }
      if (url.pathname === '/big') {
        const size = Number(url.searchParams.get('mb')) * 1024 * 1024;
        const piece = Buffer.alloc(64 * 1024, 'x');
        res.writeHead(200, { 'content-length': size });
        let sent = 0;
        const pump = (): void => {
          while (sent < size) {
            sent += piece.length;
            if (!res.write(piece)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      if (url.pathname === '/hang') return; // never answers
      if (url.pathname === '/stall') {
        res.writeHead(200, { 'content-length': 10 });
        res.write('abc'); // and nothing more
        return;
      }
      if (url.pathname === '/cut') {
        res.writeHead(200, { 'content-length': 100 });
        res.write('abc', () => setTimeout(() => req.socket.destroy(), 20));
        return;
      }
      if (url.pathname === '/status') {
        const status = Number(url.searchParams.get('s'));
        // What the request said about its connection, so a test can see it.
        res.setHeader('x-connection', String(req.headers.connection));
        if (status === 304 || status === 204) res.writeHead(status);
        else res.writeHead(status, { 'content-length': 5 });
        res.end(status === 304 || status === 204 || req.method === 'HEAD' ? undefined : 'hello');
        return;
      }
      if (url.pathname === '/early') {
        res.writeHead(413, { 'content-length': 0, connection: 'close' });
        res.end();
        return;
      }
      res.end(`hello ${req.method}`);
    });
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });

  after(async () => {
    await Promise.all(pools.map((p) => p.destroy()));
    for (const c of closers) c();
    server.closeAllConnections();
    server.close();
  });

  test('keeps connections alive: ten requests in a row take one connection', async () => {
    const p = pool();
    const before = connections;
    for (let i = 0; i < 10; i++) {
      const r = await send(p, {});
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'hello GET');
    }
    assert.equal(connections - before, 1);
    assert.equal(p.stats.connected, 1);
    assert.equal(p.stats.free, 1);
  });

  test('opens at most `connections` connections and queues the rest', async () => {
    const p = pool({ connections: 2 });
    const before = connections;
    const results = await Promise.all(Array.from({ length: 8 }, () => send(p, {})));
    assert.ok(results.every((r) => r.status === 200));
    assert.ok(connections - before <= 2, `opened ${connections - before}`);
  });

  test('reads a chunked answer with trailers, and a Content-Length one', async () => {
    const p = pool();
    const r = await send(p, { path: '/chunked' });
    assert.equal(r.body.toString(), 'abcd');
    assert.deepEqual(r.trailers, { 'x-sum': '4' });
    const r2 = await send(p, {});
    assert.equal(r2.headers['content-length'], '9');
    assert.equal(r2.body.toString(), 'hello GET');
    assert.equal(p.stats.connected, 1, 'the chunked answer left the connection reusable');
  });

  test('streams a large body with backpressure: nothing more than one read arrives while paused', async () => {
    const r = await send(pool(), { path: '/big?mb=16' }, { pauseMs: 300 });
    assert.equal(r.error, null);
    assert.equal(r.body.length, 16 * 1024 * 1024);
    assert.ok(r.whilePaused <= 256 * 1024, `${r.whilePaused} bytes arrived while paused`);
  });

  test('sends request bodies: a buffer with Content-Length, a stream chunked or with its declared length', async () => {
    const p = pool();
    const a = await send(p, { method: 'POST', path: '/echo', body: Buffer.from('buffered') });
    assert.equal(a.body.toString(), 'buffered');
    assert.equal(a.headers['x-cl'], '8');
    const b = await send(p, { method: 'PUT', path: '/echo', body: Readable.from([Buffer.from('one,'), Buffer.from('two')]) });
    assert.equal(b.body.toString(), 'one,two');
    assert.equal(b.headers['x-te'], 'chunked');
    const c = await send(p, { method: 'POST', path: '/echo', headers: ['content-length', '7'], body: Readable.from([Buffer.from('one,'), Buffer.from('two')]) });
    assert.equal(c.body.toString(), 'one,two');
    assert.equal(c.headers['x-cl'], '7');
    const d = await send(p, { method: 'POST', path: '/echo', headers: ['content-length', '9'], body: Readable.from([Buffer.from('one,two')]) });
    assert.equal(d.error, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
    assert.equal(upstreamErrorCode({ code: d.error }), 'BRISK_BAD_REQUEST');
    const e = await send(p, { method: 'POST', path: '/echo' });
    assert.equal(e.headers['x-cl'], '0', 'an empty POST says so, as undici does');
  });

  test('a body that fails before its first byte sends nothing, and the connection stays usable', async () => {
    const p = pool();
    await send(p, {});
    const before = connections;
    const body = new Readable({
      read() {
        this.destroy(Object.assign(new Error('client left'), { code: 'ECONNRESET' }));
      },
    });
    const r = await send(p, { method: 'POST', path: '/echo', body });
    assert.equal(r.error, 'ECONNRESET');
    assert.equal((await send(p, {})).status, 200);
    assert.equal(connections, before, 'no new connection was needed');
  });

  test('sends the Host header given, else the target’s host and port', async () => {
    const p = pool();
    assert.equal((await send(p, { path: '/echo', headers: ['host', 'api.example'] })).headers['x-host'], 'api.example');
    assert.equal((await send(p, { path: '/echo' })).headers['x-host'], `127.0.0.1:${port}`);
  });

  test('a target that does not answer in time fails with the headers timeout; one that stalls mid-body with the body timeout', async () => {
    const p = pool({ headersTimeoutMs: 300, bodyTimeoutMs: 300 });
    const started = Date.now();
    const a = await send(p, { path: '/hang' });
    assert.equal(a.error, 'UND_ERR_HEADERS_TIMEOUT');
    assert.equal(upstreamErrorCode({ code: a.error }), 'BRISK_UPSTREAM_RESPONSE_TIMEOUT');
    assert.ok(Date.now() - started < 3000);
    const b = await send(p, { path: '/stall' });
    assert.equal(b.error, 'UND_ERR_BODY_TIMEOUT');
    assert.equal(upstreamErrorCode({ code: b.error }), 'BRISK_UPSTREAM_IDLE_TIMEOUT');
    const long = await send(pool({ headersTimeoutMs: 1500 }), { path: '/hang' });
    assert.equal(long.error, 'UND_ERR_HEADERS_TIMEOUT', 'a timeout over a second is swept');
    assert.equal(p.stats.connected, 0, 'timed-out connections are closed');
  });

  test('a paused body is not timed out (the slow party is the caller)', async () => {
    const r = await send(pool({ bodyTimeoutMs: 500 }), { path: '/big?mb=1' }, { pauseMs: 1500 });
    assert.equal(r.error, null);
    assert.equal(r.body.length, 1024 * 1024);
  });

  test('a target closing mid-answer fails the request as a reset, and the next request gets a new connection', async () => {
    const p = pool();
    const r = await send(p, { path: '/cut' });
    assert.equal(r.error, 'UND_ERR_SOCKET');
    assert.equal(upstreamErrorCode({ code: r.error }), 'BRISK_UPSTREAM_RESET');
    assert.equal((await send(p, {})).status, 200);
  });

  test('HEAD, 204 and 304 answers have no body (a HEAD answer’s Content-Length notwithstanding)', async () => {
    const p = pool();
    const head = await send(p, { method: 'HEAD', path: '/status?s=200' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '5');
    assert.equal(head.body.length, 0);
    // The connection of a HEAD is not reused (a target may send a body anyway), and the
    // target is told so, as undici does, rather than keeping a socket open for nothing.
    assert.equal(head.headers['x-connection'], 'close');
    for (const s of [204, 304]) {
      const r = await send(p, { path: `/status?s=${s}` });
      assert.equal(r.headers['x-connection'], 'keep-alive');
    }
    for (const s of [204, 304]) {
      const r = await send(p, { path: `/status?s=${s}` });
      assert.equal(r.status, s);
      assert.equal(r.error, null);
      assert.equal(r.body.length, 0);
    }
    assert.equal((await send(p, {})).body.toString(), 'hello GET');
  });

  test('an answer that comes before the request body was sent completes, and its connection is closed', async () => {
    const p = pool();
    const body = new Readable({ read() {} });
    body.push('start');
    const r = await send(p, { method: 'POST', path: '/early', body });
    assert.equal(r.status, 413);
    assert.equal(r.error, null);
    assert.equal((await send(p, {})).status, 200);
  });

  test('a refused connection fails with ECONNREFUSED (retryable: never sent)', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const dead = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const r = await send(pool({}, dead), {});
    assert.equal(r.error, 'ECONNREFUSED');
    assert.equal(upstreamErrorCode({ code: r.error }), 'BRISK_UPSTREAM_CONNECT_FAILED');
  });

  test('an aborted request fails with its error and closes its connection', async () => {
    const p = pool();
    const r = await send(p, { path: '/hang' }, { abortMs: 50 });
    assert.equal(r.error, 'UND_ERR_ABORTED');
    assert.equal(p.stats.connected, 0);
  });

  test('refuses header fields that could split the request, as undici does', async () => {
    const p = pool();
    assert.equal((await send(p, { headers: ['x-a', 'v\r\nx-injected: 1'] })).error, 'UND_ERR_INVALID_ARG');
    assert.equal((await send(p, { headers: ['x a', 'v'] })).error, 'UND_ERR_INVALID_ARG');
    assert.equal((await send(p, { path: '/a b' })).error, 'UND_ERR_INVALID_ARG');
  });

  test('hands unusual requests (Expect, Upgrade) to undici', async () => {
    const p = pool();
    const r = await send(p, { method: 'POST', path: '/echo', headers: ['expect', '100-continue'], body: 'x' });
    // undici refuses Expect itself: the answer is what it was before the lean transport.
    assert.equal(r.error, 'UND_ERR_NOT_SUPPORTED');
  });

  test('passes interim answers on, then the final one', async () => {
    const { server: s, port: at } = await rawServer((_head, socket) => socket.write('HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
    closers.push(() => s.close());
    const r = await send(pool({}, at), {});
    assert.deepEqual(r.interim, [103]);
    assert.equal(r.body.toString(), 'ok');
  });

  test('reads an answer delivered one byte at a time', async () => {
    const answer = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-a: 1\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nx-t: 9\r\n\r\n';
    const { server: s, port: at } = await rawServer((_head, socket) => {
      let i = 0;
      const next = (): void => {
        if (i < answer.length) socket.write(answer[i++]!, () => setImmediate(next));
      };
      next();
    });
    closers.push(() => s.close());
    const p = pool({}, at);
    const r = await send(p, {});
    assert.equal(r.body.toString(), 'abcde');
    assert.deepEqual(r.trailers, { 'x-t': '9' });
    assert.equal(p.stats.free, 1);
  });

  test('a body that runs until the connection closes is complete at the close', async () => {
    const { server: s, port: at } = await rawServer((_head, socket) => socket.end('HTTP/1.1 200 OK\r\n\r\nuntil close'));
    closers.push(() => s.close());
    const r = await send(pool({}, at), {});
    assert.equal(r.error, null);
    assert.equal(r.body.toString(), 'until close');
  });

  const malformed: [string, string][] = [
    ['a status line that is not HTTP', 'HTTP/2.0 200 OK\r\ncontent-length: 0\r\n\r\n'],
    ['a status that is not three digits', 'HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n'],
    ['obsolete line folding', 'HTTP/1.1 200 OK\r\nx-a: 1\r\n  folded\r\ncontent-length: 0\r\n\r\n'],
    ['a bare LF inside a field', 'HTTP/1.1 200 OK\r\nx-a: 1\nx-b: 2\r\ncontent-length: 0\r\n\r\n'],
    ['a space before the colon', 'HTTP/1.1 200 OK\r\ncontent-length : 0\r\n\r\n'],
    ['Content-Length with Transfer-Encoding', 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
    ['differing Content-Length values', 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd'],
    ['a Content-Length that is not a number', 'HTTP/1.1 200 OK\r\ncontent-length: 3x\r\n\r\nabc'],
    ['chunked applied twice', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
    ['chunked on two lines', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
    ['a chunk size that is not hex', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'],
    ['chunk data without its CRLF', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n'],
    ['an unrequested 101', 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n'],
    ['bytes after the answer', 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n'],
  ];
  for (const [what, answer] of malformed) {
    test(`a malformed answer — ${what} — fails as a bad response and never crashes`, async () => {
      const { server: s, port: at } = await rawServer((_head, socket) => socket.write(answer));
      closers.push(() => s.close());
      const p = pool({}, at);
      const r = await send(p, {});
      if (what === 'bytes after the answer') {
        // The answer itself was whole; the connection that carried garbage is not reused.
        assert.equal(r.body.toString(), 'ok');
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(p.stats.connected, 0);
        return;
      }
      assert.ok(r.error !== null, 'it failed');
      assert.equal(upstreamErrorCode({ code: r.error, name: 'HTTPParserError' }), 'BRISK_UPSTREAM_BAD_RESPONSE', `${r.error}`);
      assert.equal(p.stats.connected, 0, 'the connection is closed');
    });
  }

  test('a head larger than the limit fails with the headers overflow', async () => {
    const { server: s, port: at } = await rawServer((_head, socket) => socket.write(`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(70_000)}\r\n\r\n`));
    closers.push(() => s.close());
    const r = await send(pool({}, at), {});
    assert.equal(r.error, 'UND_ERR_HEADERS_OVERFLOW');
  });

  test('close waits for the requests in flight; a closed pool refuses new ones', async () => {
    const p = pool();
    const pending = send(p, { path: '/chunked' });
    await new Promise((r) => setTimeout(r, 5));
    await p.close();
    assert.equal((await pending).body.toString(), 'abcd');
    assert.equal((await send(p, {})).error, 'UND_ERR_CLOSED');
  });
});
