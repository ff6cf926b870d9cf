/**
 * Targets that fail in every way a real one can — refusing, resetting, stalling, sending
 * garbage, cutting a body short — and the forwarding details that must hold when they do
 * not: each failure is answered promptly with the documented code and JSON body, and
 * nothing hangs.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startBackend, type Backend } from './helpers/backend.js';
import { freePort } from './helpers/free-port.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { rawRequest } from './helpers/raw.js';
import { errorOf, openRaw, parseResponses, type WireResponse } from './helpers/wire.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A TCP server that does whatever `onData` says with the first bytes of each connection. */
interface TcpTarget {
  url: string;
  close(): Promise<void>;
}

async function tcpTarget(onData: (socket: Socket, data: Buffer) => void): Promise<TcpTarget> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.once('data', (data: Buffer) => onData(socket, data));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string | undefined>;
  bodyLength: number;
}

/** Asserts the Brisk error answer: status, code, and the exact JSON shape with the request id. */
function assertErrorBody(status: number, headers: Record<string, string | string[] | undefined>, body: string, wantStatus: number, wantCode: string): void {
  assert.equal(status, wantStatus, body);
  assert.match(String(headers['content-type']), /^application\/json/);
  const parsed = JSON.parse(body) as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(parsed), ['error']);
  assert.deepEqual(Object.keys(parsed.error), ['code', 'message', 'requestId', 'traceId']);
  assert.match(String(parsed.error['traceId']), /^[0-9a-f]{32}$/, 'the W3C trace id of the request');
  assert.equal(parsed.error['code'], wantCode);
  assert.equal(typeof parsed.error['message'], 'string');
  assert.ok((parsed.error['message'] as string).length > 0);
  assert.equal(parsed.error['requestId'], headers['x-request-id'], 'the body and the header carry the same request id');
  assert.match(String(parsed.error['requestId']), UUID);
}

describe('upstream failures', () => {
  const targets: TcpTarget[] = [];
  let app: Backend;
  let gw: TestGateway;
  let refusedUrl: string;
  /** Resolves with how the backend's last /app/stream response ended. */
  let streamClosed: Promise<{ finished: boolean }> = Promise.resolve({ finished: true });
  let uploadClosed: Promise<{ completed: boolean }> = Promise.resolve({ completed: true });

  before(async () => {
    refusedUrl = `http://127.0.0.1:${await freePort()}`;
    const reset = await tcpTarget((s) => s.resetAndDestroy());
    const closeEarly = await tcpTarget((s) => s.end());
    const silent = await tcpTarget(() => {});
    const stall = await tcpTarget((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc'));
    const drip = await tcpTarget((s) => {
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      const timer = setInterval(() => s.write('1\r\na\r\n'), 100);
      s.on('close', () => clearInterval(timer));
    });
    const garbage = await tcpTarget((s) => s.end('HELLO GARBAGE\r\n\r\n'));
    // Invalid heads: a bad header name, response smuggling (CL and TE), conflicting lengths, a bare CR.
    const badHeads = [
      'HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
      'HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok',
    ];
    let badHeadIndex = 0;
    const badHeader = await tcpTarget((s) => s.end(badHeads[badHeadIndex++ % badHeads.length]));
    const short = await tcpTarget((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc'));
    const shortChunked = await tcpTarget((s) => s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n'));
    // Reads a few kB of the request, then resets: a target dying during an upload.
    const resetMidUpload = await tcpTarget((s, first) => {
      let received = first.length;
      s.on('data', (d: Buffer) => {
        received += d.length;
        if (received > 5000) s.resetAndDestroy();
      });
    });
    targets.push(reset, closeEarly, silent, stall, drip, garbage, badHeader, short, shortChunked, resetMidUpload);

    app = await startBackend((req: IncomingMessage, res: ServerResponse) => {
      const url = req.url ?? '';
      if (url.startsWith('/stream')) {
        streamClosed = new Promise((resolve) => res.on('close', () => resolve({ finished: res.writableFinished })));
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first chunk;');
        return; // never ends: the client is expected to go away
      }
      if (url.startsWith('/upload')) {
        let completed = false;
        req.on('end', () => (completed = true));
        req.resume();
        uploadClosed = new Promise((resolve) => req.on('close', () => resolve({ completed })));
        return;
      }
      if (url.startsWith('/status/')) {
        const status = Number(url.slice(8));
        res.writeHead(status, { etag: '"v1"', 'x-status': String(status) });
        res.end();
        return;
      }
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1234' });
        res.end();
        return;
      }
      let bodyLength = 0;
      req.on('data', (c: Buffer) => (bodyLength += c.length));
      req.on('end', () => {
        const echo: Echo = { method: req.method ?? '', url, headers: req.headers as Record<string, string | undefined>, bodyLength };
        const json = JSON.stringify(echo);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
        res.end(json);
      });
    });

    const route = (name: string, extra: Record<string, unknown> = {}) => ({ name, match: { pathPrefix: `/${name}` }, upstream: name, ...extra });
    // One try each: what is tested is how a failure maps, not the retry policy (which would
    // multiply the timeouts and answer with the last try's error).
    const once = { retry: { attempts: 0 } };
    gw = await startGateway({
      upstreams: {
        refused: { targets: [{ url: refusedUrl }], ...once },
        reset: { targets: [{ url: reset.url }], ...once },
        closeEarly: { targets: [{ url: closeEarly.url }], ...once },
        silent: { targets: [{ url: silent.url }], timeouts: { response: '300ms' }, ...once },
        stall: { targets: [{ url: stall.url }], ...once },
        totalSilent: { targets: [{ url: silent.url }], timeouts: { total: '400ms' }, ...once },
        totalDrip: { targets: [{ url: drip.url }], timeouts: { total: '400ms' }, ...once },
        garbage: { targets: [{ url: garbage.url }], ...once },
        badHeader: { targets: [{ url: badHeader.url }], ...once },
        short: { targets: [{ url: short.url }], ...once },
        shortChunked: { targets: [{ url: shortChunked.url }], ...once },
        resetMidUpload: { targets: [{ url: resetMidUpload.url }], ...once },
        app: { targets: [{ url: app.url }] },
        appTarget: { targets: [{ url: app.url }], hostHeader: 'target' },
      },
      routes: [
        route('refused'),
        route('reset'),
        route('closeEarly'),
        route('silent'),
        // Route-level override: the idle timeout is per request here, not per pool.
        route('stall', { timeouts: { idle: '300ms' } }),
        route('totalSilent'),
        route('totalDrip'),
        route('garbage'),
        route('badHeader'),
        route('short'),
        route('shortChunked'),
        route('resetMidUpload'),
        { name: 'app', match: { pathPrefix: '/app' }, upstream: 'app', rewrite: { stripPrefix: '/app' } },
        { name: 'appTarget', match: { pathPrefix: '/appTarget' }, upstream: 'appTarget', rewrite: { stripPrefix: '/appTarget' } },
        { name: 'items', match: { pathRegex: '^/items/(?<id>[0-9]+)$' }, upstream: 'app', rewrite: { path: '/v2/:id' } },
        { name: 'orders', match: { path: '/users/:id/orders/:orderId' }, upstream: 'app', rewrite: { path: '/v2/users/${id}/o/:orderId' } },
      ],
    });
  });

  after(async () => {
    await gw.stop();
    await app.close();
    for (const t of targets) await t.close();
  });

  /** GET through undici; returns status, headers, body text and how long it took. */
  async function get(path: string, headers: Record<string, string> = {}, method = 'GET') {
    const started = performance.now();
    const res = await request(`${gw.url}${path}`, { method, headers });
    const body = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body, ms: performance.now() - started };
  }

  /** One raw request on a fresh connection that asks to be closed; the single answer, parsed. */
  async function raw(head: string, options: { headRequest?: boolean } = {}): Promise<{ response: WireResponse; rest: string; text: string }> {
    const reply = await rawRequest(gw.port, head, 3000);
    assert.equal(reply.closed, true, `closed: ${reply.text.slice(0, 200)}`);
    const parsed = parseResponses(reply.text, { closed: true, ...options });
    assert.equal(parsed.responses.length, 1, reply.text);
    return { response: parsed.responses[0]!, rest: parsed.rest, text: reply.text };
  }

  /** Echo of what the app backend received for a raw request. */
  async function echoOf(head: string): Promise<Echo> {
    const { response } = await raw(head);
    assert.equal(response.status, 200, response.body);
    return JSON.parse(response.body) as Echo;
  }

  it('connection refused → 502 BRISK_UPSTREAM_CONNECT_FAILED', async () => {
    const r = await get('/refused');
    assertErrorBody(r.status, r.headers, r.body, 502, 'BRISK_UPSTREAM_CONNECT_FAILED');
    assert.ok(r.ms < 2000, `${Math.round(r.ms)} ms`);
  });

  it('target resets or closes before answering → 502 BRISK_UPSTREAM_RESET', async () => {
    const r = await get('/reset');
    assertErrorBody(r.status, r.headers, r.body, 502, 'BRISK_UPSTREAM_RESET');
    assert.ok(r.ms < 2000, `${Math.round(r.ms)} ms`);
    const c = await get('/closeEarly');
    assertErrorBody(c.status, c.headers, c.body, 502, 'BRISK_UPSTREAM_RESET');
    assert.ok(c.ms < 2000, `${Math.round(c.ms)} ms`);
  });

  it('target accepts and never answers → 504 BRISK_UPSTREAM_RESPONSE_TIMEOUT', async () => {
    const r = await get('/silent');
    assertErrorBody(r.status, r.headers, r.body, 504, 'BRISK_UPSTREAM_RESPONSE_TIMEOUT');
    // undici runs response/idle timeouts on a coarse clock (about 1 s ticks), so a 300 ms
    // timeout fires between 300 ms and about 1.3 s; never before, never unbounded.
    assert.ok(r.ms >= 290 && r.ms < 2500, `${Math.round(r.ms)} ms`);
  });

  it('target stalls the body after the head → the client connection is cut and the error logged', async () => {
    const conn = await openRaw(gw.port);
    try {
      const started = performance.now();
      conn.write('GET /stall HTTP/1.1\r\nHost: a\r\nX-Request-Id: stall-1\r\n\r\n');
      assert.ok(await conn.waitClosed(4000), 'the gateway cuts the connection');
      const ms = performance.now() - started;
      assert.ok(ms >= 290 && ms < 2500, `${Math.round(ms)} ms`);
      const text = conn.text();
      assert.match(text, /^HTTP\/1\.1 200 /, 'the head had been passed on');
      const parsed = parseResponses(text, { closed: true });
      assert.equal(parsed.responses.length, 0, 'never a complete response');
      assert.ok(parsed.rest.endsWith('abc'), 'what had arrived was passed on');
    } finally {
      conn.destroy();
    }
    const line = await waitForLog(gw, (l) => l['requestId'] === 'stall-1');
    assert.equal(line['error'], 'BRISK_UPSTREAM_IDLE_TIMEOUT');
  });

  it('total timeout → 504 BRISK_UPSTREAM_TOTAL_TIMEOUT before the head, a cut connection after it', async () => {
    const r = await get('/totalSilent');
    assertErrorBody(r.status, r.headers, r.body, 504, 'BRISK_UPSTREAM_TOTAL_TIMEOUT');
    assert.ok(r.ms >= 390 && r.ms < 1500, `${Math.round(r.ms)} ms`);
    const conn = await openRaw(gw.port);
    try {
      conn.write('GET /totalDrip HTTP/1.1\r\nHost: a\r\nX-Request-Id: drip-1\r\n\r\n');
      assert.ok(await conn.waitClosed(3000));
      assert.match(conn.text(), /^HTTP\/1\.1 200 /);
      assert.ok(!conn.text().includes('\r\n0\r\n\r\n'), 'no terminating chunk: the body is visibly incomplete');
      assert.equal(parseResponses(conn.text(), { closed: true }).responses.length, 0);
    } finally {
      conn.destroy();
    }
    const line = await waitForLog(gw, (l) => l['requestId'] === 'drip-1');
    assert.equal(line['error'], 'BRISK_UPSTREAM_TOTAL_TIMEOUT');
  });

  it('target resets during an upload → 502 BRISK_UPSTREAM_RESET, and the connection is closed', async () => {
    const conn = await openRaw(gw.port);
    const feed = setInterval(() => conn.write('x'.repeat(2000)), 20);
    try {
      conn.write('POST /resetMidUpload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n');
      assert.ok(await conn.waitClosed(3000), 'closed: the rest of the body will not be read');
      const parsed = parseResponses(conn.text(), { closed: true });
      assert.equal(parsed.responses.length, 1, conn.text().slice(0, 300));
      const response = parsed.responses[0]!;
      assert.equal(response.status, 502);
      assert.equal(errorOf(response).code, 'BRISK_UPSTREAM_RESET');
      assert.equal(response.headers.get('connection'), 'close');
    } finally {
      clearInterval(feed);
      conn.destroy();
    }
  });

  it('target answers garbage or an invalid head → 502 BRISK_UPSTREAM_BAD_RESPONSE', async () => {
    const r = await get('/garbage');
    assertErrorBody(r.status, r.headers, r.body, 502, 'BRISK_UPSTREAM_BAD_RESPONSE');
    for (let i = 0; i < 4; i++) {
      const h = await get(`/badHeader/${i}`);
      assertErrorBody(h.status, h.headers, h.body, 502, 'BRISK_UPSTREAM_BAD_RESPONSE');
    }
  });

  it('target closes mid-body → the client never sees a complete response', async () => {
    const reply = await rawRequest(gw.port, 'GET /short HTTP/1.1\r\nHost: a\r\n\r\n', 3000);
    assert.equal(reply.closed, true);
    assert.match(reply.text, /^HTTP\/1\.1 200 /);
    assert.match(reply.text, /content-length: 100\r\n/i, 'the promised length is passed on, so the client can tell');
    assert.equal(parseResponses(reply.text, { closed: true }).responses.length, 0);
    const chunked = await rawRequest(gw.port, 'GET /shortChunked HTTP/1.1\r\nHost: a\r\n\r\n', 3000);
    assert.equal(chunked.closed, true);
    assert.match(chunked.text, /^HTTP\/1\.1 200 /);
    assert.equal(parseResponses(chunked.text, { closed: true }).responses.length, 0, 'no terminating chunk');
  });

  it('client goes away mid-response → the upstream request is aborted', async () => {
    const conn = await openRaw(gw.port);
    conn.write('GET /app/stream HTTP/1.1\r\nHost: a\r\nX-Request-Id: gone-1\r\n\r\n');
    assert.ok(await conn.waitFor((t) => t.includes('first chunk;'), 3000));
    conn.destroy();
    const closed = await withTimeout(streamClosed, 3000, 'the backend saw its response close');
    assert.equal(closed.finished, false, 'closed before it finished: aborted');
    const line = await waitForLog(gw, (l) => l['requestId'] === 'gone-1');
    assert.equal(line['status'], 499);
    await waitUntil(() => gw.gw.runtime.upstreams.get('app')!.targets[0]!.inFlight === 0, 3000, 'in-flight count back to 0');
  });

  it('client goes away mid-upload → the upstream request is aborted and the target is not blamed', async () => {
    const target = gw.gw.runtime.upstreams.get('app')!.targets[0]!;
    const failuresBefore = target.failures;
    const conn = await openRaw(gw.port);
    conn.write(`POST /app/upload HTTP/1.1\r\nHost: a\r\nX-Request-Id: upload-1\r\nContent-Length: 100000\r\n\r\n${'u'.repeat(1000)}`);
    const marker = uploadClosed;
    await waitUntil(() => uploadClosed !== marker, 3000, 'the upload reached the backend');
    conn.destroy();
    const closed = await withTimeout(uploadClosed, 3000, 'the backend saw its request close');
    assert.equal(closed.completed, false);
    await waitForLog(gw, (l) => l['requestId'] === 'upload-1');
    assert.equal(target.failures, failuresBefore, 'a client that leaves is not a target failure');
    await waitUntil(() => target.inFlight === 0, 3000, 'in-flight count back to 0');
  });

  it('204 and 304 pass with no body', async () => {
    for (const status of [204, 304]) {
      const { response, rest } = await raw(`GET /app/status/${status} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
      assert.equal(response.status, status);
      assert.equal(response.headers.get('x-status'), String(status));
      assert.equal(response.headers.get('transfer-encoding'), undefined);
      assert.equal(rest, '', 'no body bytes after the head');
    }
  });

  it('HEAD passes with the Content-Length and no body', async () => {
    const { response, rest } = await raw('HEAD /app/thing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', { headRequest: true });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-length'), '1234');
    assert.equal(rest, '');
  });

  it('unusual methods node knows pass through; a custom token is refused by the parser', async () => {
    for (const method of ['PURGE', 'PROPFIND', 'MKCOL', 'PATCH', 'OPTIONS']) {
      const echo = await echoOf(`${method} /app/m HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
      assert.equal(echo.method, method);
      assert.equal(echo.url, '/m');
    }
    // node:http's parser (llhttp) only knows a fixed list of methods: `FOO-BAR` is a 400
    // before Brisk sees it. Safe — refused, closed, never forwarded — but not passed on.
    const reply = await rawRequest(gw.port, 'FOO-BAR /app/m HTTP/1.1\r\nHost: a\r\n\r\n', 3000);
    assert.equal(reply.status, 400);
    assert.equal(reply.closed, true);
    const parsed = parseResponses(reply.text, { closed: true });
    assert.equal(errorOf(parsed.responses[0]!).code, 'BRISK_BAD_REQUEST');
  });

  it('rewrites a pathRegex or parameter path to the template, keeping the query', async () => {
    const items = await echoOf('GET /items/42?x=1&y=%20 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.equal(items.url, '/v2/42?x=1&y=%20');
    const orders = await echoOf('GET /users/7/orders/9 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.equal(orders.url, '/v2/users/7/o/9');
    const miss = await get('/items/abc');
    assertErrorBody(miss.status, miss.headers, miss.body, 404, 'BRISK_ROUTE_NOT_FOUND');
  });

  it('hostHeader: target sends the target host; preserve sends the client host', async () => {
    const targetHost = new URL(app.url).host;
    const t = await echoOf('GET /appTarget/h HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n');
    assert.equal(t.headers['host'], targetHost);
    assert.equal(t.headers['x-forwarded-host'], 'shop.test', 'the client host is still told');
    const p = await echoOf('GET /app/h HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n');
    assert.equal(p.headers['host'], 'shop.test');
  });

  it('an untrusted client cannot set forwarding headers; Via is extended', async () => {
    const echo = await echoOf(
      'GET /app/fwd HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: https\r\n' +
        'X-Forwarded-Host: evil.test\r\nForwarded: for=1.1.1.1;proto=https\r\nVia: 1.1 edge\r\n\r\n',
    );
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(echo.headers['x-forwarded-proto'], 'http');
    assert.equal(echo.headers['x-forwarded-host'], 'shop.test');
    assert.equal(echo.headers['forwarded'], 'for=127.0.0.1;proto=http;host="shop.test"');
    assert.equal(echo.headers['via'], '1.1 edge, 1.1 brisk');
  });

  it('request id: generated when missing or invalid, passed through when valid', async () => {
    const cases: [string | undefined, boolean][] = [
      [undefined, false],
      ['x'.repeat(300), false],
      ['has spaces in it', false],
      ['bad"quote', false],
      ['abc-123', true],
      ['0af7651916cd43dd8448eb211c80319c', true],
    ];
    for (const [sent, kept] of cases) {
      const head = `GET /app/id HTTP/1.1\r\nHost: a\r\nConnection: close\r\n${sent === undefined ? '' : `X-Request-Id: ${sent}\r\n`}\r\n`;
      const { response } = await raw(head);
      const echo = JSON.parse(response.body) as Echo;
      const id = response.headers.get('x-request-id');
      assert.equal(echo.headers['x-request-id'], id, 'the target and the client see the same id');
      if (kept) assert.equal(id, sent);
      else assert.match(String(id), UUID, `replaced: ${String(sent).slice(0, 20)}`);
    }
  });

  describe('behind a trusted proxy, with via: false', () => {
    let trusted: TestGateway;
    before(async () => {
      trusted = await startGateway({
        upstreams: { app: { targets: [{ url: app.url }] } },
        routes: [{ name: 'app', match: { pathPrefix: '/' }, upstream: 'app' }],
        proxy: { trustedProxies: ['127.0.0.1/32'], via: false },
      });
    });
    after(() => trusted.stop());

    it('extends X-Forwarded-For and Forwarded, keeps X-Forwarded-Proto/Host, adds no Via', async () => {
      const reply = await rawRequest(
        trusted.port,
        'GET /fwd HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2\r\nX-Forwarded-Proto: https\r\n' +
          'X-Forwarded-Host: www.shop.test\r\nForwarded: for=1.1.1.1;proto=https\r\n\r\n',
        3000,
      );
      const response = parseResponses(reply.text, { closed: true }).responses[0]!;
      const echo = JSON.parse(response.body) as Echo;
      assert.equal(echo.headers['x-forwarded-for'], '1.1.1.1, 2.2.2.2, 127.0.0.1');
      assert.equal(echo.headers['x-forwarded-proto'], 'https');
      assert.equal(echo.headers['x-forwarded-host'], 'www.shop.test');
      assert.equal(echo.headers['forwarded'], 'for=1.1.1.1;proto=https, for=127.0.0.1;proto=http;host="shop.test"');
      assert.equal(echo.headers['via'], undefined, 'via: false adds no Via upstream');
      assert.equal(response.headers.get('via'), undefined, 'nor downstream');
    });

    it('without client forwarding headers, starts the chain; a client Via is kept as is', async () => {
      const reply = await rawRequest(trusted.port, 'GET /fwd HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\nVia: 1.1 edge\r\n\r\n', 3000);
      const echo = JSON.parse(parseResponses(reply.text, { closed: true }).responses[0]!.body) as Echo;
      assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(echo.headers['x-forwarded-proto'], 'http');
      assert.equal(echo.headers['x-forwarded-host'], 'shop.test');
      assert.equal(echo.headers['via'], '1.1 edge');
    });
  });
});

async function waitForLog(gw: TestGateway, test: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await waitUntil(() => (found = gw.logs.find((l) => l['type'] === 'access' && test(l))) !== undefined, 3000, 'access log line');
  return found!;
}

async function waitUntil(test: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  // Polling: log lines and counters change on events the test has no handle on.
  while (!test()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting: ${what}`)), ms);
    }),
  ]);
}
