/**
 * Hostile and malformed requests against a real gateway and a real backend: nothing may
 * crash the gateway, leak connections or in-flight counts, or reach the backend. Each case
 * checks the answer (status, Brisk code), that the connection was closed where the framing
 * cannot be trusted, and that the backend saw nothing.
 */
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { rawRequest, type RawReply } from './helpers/raw.js';
import { startBackend, type Backend } from './helpers/backend.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { errorOf, openRaw, parseResponses, type WireResponse } from './helpers/wire.js';

/** What the backend saw, request by request. */
interface Seen {
  started: number;
  completed: number;
  aborted: number;
  urls: string[];
  bodies: string[];
  /** Request headers, in the order of `urls`. */
  headers: IncomingHttpHeaders[];
  /** Upgrade requests that reached the backend's 'upgrade' handler, and what followed them. */
  upgrades: { url: string; upgrade: string; bytes: string }[];
}

// Both server transports, chosen by the listener's config: node:http (the default) and the
// lean server in front of it (`transport: lean`), which must hand every one of these
// requests to node:http or answer it exactly as node would.
for (const transport of ['node', 'lean'] as const)
describe(`hostile input (${transport} server)`, () => {
  let backend: Backend;
  let gw: TestGateway;
  const seen: Seen = { started: 0, completed: 0, aborted: 0, urls: [], bodies: [], headers: [], upgrades: [] };
  let onBackendEvent: (() => void)[] = [];
  /** Resolves when `test` holds after some backend event, or after `ms` (then false). */
  const backendWait = (test: () => boolean, ms = 3000) =>
    new Promise<boolean>((resolve) => {
      if (test()) return resolve(true);
      const timer = setTimeout(() => resolve(false), ms);
      const check = () => {
        if (test()) {
          clearTimeout(timer);
          resolve(true);
        } else onBackendEvent.push(check);
      };
      onBackendEvent.push(check);
    });
  const backendEvent = () => {
    const waiting = onBackendEvent;
    onBackendEvent = [];
    for (const w of waiting) w();
  };

  before(async () => {
    backend = await startBackend((req: IncomingMessage, res) => {
      seen.started++;
      seen.urls.push(req.url ?? '');
      seen.headers.push(req.headers);
      backendEvent();
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.completed++;
        const body = Buffer.concat(chunks).toString('latin1');
        seen.bodies.push(body);
        backendEvent();
        const json = JSON.stringify({ url: req.url, bodyLength: body.length });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
        res.end(json);
      });
      res.on('close', () => {
        if (!res.writableFinished) {
          seen.aborted++;
          backendEvent();
        }
      });
    });
    // Like a target that speaks h2c or WebSocket: it switches protocols on any upgrade and
    // records every byte that follows, which is what a smuggled request would be.
    backend.server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
      const entry = { url: req.url ?? '', upgrade: String(req.headers.upgrade), bytes: '' };
      seen.upgrades.push(entry);
      backendEvent();
      socket.on('data', (c: Buffer) => (entry.bytes += c.toString('latin1')));
      socket.on('error', () => socket.destroy());
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade}\r\n\r\n`);
    });
    gw = await startGateway({
      upstreams: { app: { targets: [{ url: backend.url }] } },
      routes: [
        { name: 'all', match: { pathPrefix: '/' }, upstream: 'app' },
        { name: 'plain-only', match: { pathPrefix: '/plain-only' }, upstream: 'app', upgrades: [] },
        { name: 'small', match: { pathPrefix: '/small' }, upstream: 'app', maxBodySize: 100 },
      ],
      listen: [{ address: '127.0.0.1:0', transport }],
      limits: { maxHeaderSize: '4kb', maxHeaderCount: 20, headersTimeout: '500ms', requestTimeout: '1s', keepAliveTimeout: '500ms' },
      logging: { accessLog: true },
    });
  });
  after(async () => {
    await gw.stop();
    await backend.close();
  });

  /** Sends `payload` on a fresh connection; the reply must be one whole response. */
  async function send(payload: string, timeoutMs = 3000): Promise<{ reply: RawReply; response: WireResponse; count: number }> {
    const reply = await rawRequest(gw.port, payload, timeoutMs);
    const parsed = parseResponses(reply.text, { closed: reply.closed });
    assert.ok(parsed.responses.length >= 1, `a whole response, got ${JSON.stringify(reply.text.slice(0, 300))}`);
    return { reply, response: parsed.responses[0]!, count: parsed.responses.length };
  }

  /** The request is refused with `status`/`code`, alone, on a closed connection, and never forwarded. */
  async function assertRefused(label: string, payload: string, status = 400, code = 'BRISK_BAD_REQUEST'): Promise<void> {
    const before = seen.started;
    const { reply, response, count } = await send(payload);
    assert.equal(response.status, status, `${label}: status (${reply.text.slice(0, 200)})`);
    assert.equal(errorOf(response).code, code, `${label}: code`);
    assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8', `${label}: JSON`);
    assert.equal(count, 1, `${label}: exactly one response (nothing smuggled behind it)`);
    assert.equal(reply.closed, true, `${label}: the connection is closed`);
    assert.equal(seen.started, before, `${label}: the backend never saw it`);
  }

  const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n';

  it('refuses CL.TE and TE.CL smuggling payloads', async () => {
    // CL.TE: a front end reading Content-Length forwards everything; one reading chunked
    // stops at the 0-chunk and takes "GET /smuggled" as the next request.
    await assertRefused('CL.TE', `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${5 + SMUGGLED.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`);
    // TE.CL: the chunked reader forwards the whole chunk; a Content-Length: 4 reader stops
    // after the chunk-size line and takes the chunk's content as the next request.
    await assertRefused('TE.CL', `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`);
    // Transfer-Encoding first, Content-Length second, with a zero length.
    await assertRefused('TE.CL zero', `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n${SMUGGLED}`);
    // A Content-Length smuggled in as a chunked trailer.
    await assertRefused('CL in trailer', `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n${SMUGGLED}`);
  });

  it('refuses obfuscated Transfer-Encoding, with and without a Content-Length', async () => {
    const obfuscations: [string, string][] = [
      ['xchunked', 'Transfer-Encoding: xchunked\r\n'],
      ['space before colon', 'Transfer-Encoding : chunked\r\n'],
      ['chunked, identity', 'Transfer-Encoding: chunked, identity\r\n'],
      ['identity, chunked', 'Transfer-Encoding: identity, chunked\r\n'],
      ['gzip, chunked (a coding the gateway would drop)', 'Transfer-Encoding: gzip, chunked\r\n'],
      ['chunked, chunked', 'Transfer-Encoding: chunked, chunked\r\n'],
      ['two lines', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n'],
      ['vertical tab', 'Transfer-Encoding:\x0bchunked\r\n'],
      ['folded onto the previous line', 'X-Pad: 1\r\n Transfer-Encoding: chunked\r\n'],
      ['bare LF before it', 'X-Pad: 1\nTransfer-Encoding: chunked\r\n'],
      ['quoted', 'Transfer-Encoding: "chunked"\r\n'],
    ];
    for (const [label, te] of obfuscations) {
      await assertRefused(`TE ${label}`, `POST / HTTP/1.1\r\nHost: a\r\n${te}\r\n0\r\n\r\n${SMUGGLED}`);
      await assertRefused(`TE ${label} + CL`, `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n${te}\r\n0\r\n\r\n${SMUGGLED}`);
    }
    // HTTP/1.0 has no chunked coding; a front end may ignore the header (RFC 9112 §6.1).
    await assertRefused('TE on HTTP/1.0', `POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`);
  });

  it('processes no request pipelined behind an answer that closes the connection', async () => {
    // Node parses the whole packet and hands over every request in it; after a refusal
    // the gateway must not forward them (RFC 9112 §9.6) — here, they are the smuggled ones.
    const refused = 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n';
    await assertRefused('plain request behind a refusal', refused + SMUGGLED);
    await assertRefused('two requests behind a refusal', refused + SMUGGLED + SMUGGLED);
    const upgrade = 'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
    await assertRefused('upgrade behind a refusal', refused + upgrade);
    // A body too large by Content-Length is skipped by the parser, then the next request
    // would be read: the 413 closes the connection, so it is not processed either.
    await assertRefused('request behind a 413', `POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n${'x'.repeat(101)}${SMUGGLED}`, 413, 'BRISK_BODY_TOO_LARGE');
    assert.ok(!seen.urls.includes('/smuggled') && !seen.urls.includes('/ws'));
  });

  it('refuses duplicate and invalid Content-Length values', async () => {
    await assertRefused('duplicate, different', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd');
    await assertRefused('duplicate, same', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc');
    for (const value of ['-1', '1e3', '0x10', '+3', '3, 3', '3 3', 'abc', '99999999999999999999999']) {
      await assertRefused(`Content-Length: ${value}`, `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${value}\r\n\r\nabc`);
    }
  });

  it('refuses invalid header names, NUL/CR in values, obsolete folding and bare LF', async () => {
    await assertRefused('( in name', 'GET / HTTP/1.1\r\nHost: a\r\nX(bad): 1\r\n\r\n');
    await assertRefused('space in name', 'GET / HTTP/1.1\r\nHost: a\r\nX Bad: 1\r\n\r\n');
    await assertRefused('empty name', 'GET / HTTP/1.1\r\nHost: a\r\n: 1\r\n\r\n');
    await assertRefused('NUL in value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n');
    await assertRefused('bare CR in value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n');
    await assertRefused('obsolete line folding', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n  folded\r\n\r\n');
    // Node 20's parser is strict about line endings: a bare LF anywhere in the head is a
    // 400, never read as a line break (which is what would let a second request hide).
    await assertRefused('bare LF everywhere', 'GET / HTTP/1.1\nHost: a\n\n');
    await assertRefused('bare LF after a header', 'GET / HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n');
    await assertRefused('bare LF in a chunk size line', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n');
  });

  it('refuses a missing, doubled or invalid Host on HTTP/1.1', async () => {
    await assertRefused('no Host', 'GET / HTTP/1.1\r\n\r\n');
    await assertRefused('two different Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n');
    await assertRefused('two equal Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n');
    // A quote would let the client write its own element into the Forwarded header.
    await assertRefused('Host forging a Forwarded element', 'GET / HTTP/1.1\r\nHost: a", for=6.6.6.6, x="\r\n\r\n');
    await assertRefused('Host with a path', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n');
    // HTTP/1.0 has no Host requirement: forwarded.
    const before = seen.completed;
    const { response } = await send('GET /ok10 HTTP/1.0\r\n\r\n');
    assert.equal(response.status, 200);
    assert.equal(seen.completed, before + 1);
  });

  it('routes an absolute-form target only when it agrees with Host', async () => {
    await assertRefused('absolute URI naming another host', 'GET http://evil.test/x HTTP/1.1\r\nHost: a\r\n\r\n');
    await assertRefused('absolute https URI naming another host', 'GET https://evil.test HTTP/1.1\r\nHost: a\r\n\r\n');
    await assertRefused('absolute URI with userinfo', 'GET http://a@evil.test/x HTTP/1.1\r\nHost: a\r\n\r\n');
    await assertRefused('non-http scheme', 'GET ftp://a/x HTTP/1.1\r\nHost: a\r\n\r\n');
    await assertRefused('asterisk form', 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n');
    const before = seen.urls.length;
    const { response } = await send('GET http://A/abs?q=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.equal(response.status, 200);
    assert.deepEqual(seen.urls.slice(before), ['/abs?q=1'], 'forwarded in origin form');
  });

  it('closes a CONNECT request without forwarding it', async () => {
    const before = seen.started;
    const reply = await rawRequest(gw.port, 'CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n', 3000);
    assert.equal(reply.closed, true);
    assert.ok(reply.status === 0 || reply.status >= 400, `no tunnel: ${reply.text.slice(0, 100)}`);
    assert.equal(seen.started, before);
  });

  const H2C = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n';
  const WS = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
  const AFTER = 'GET /after-upgrade HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';

  /**
   * Sends requests pipelined on one connection: each must get its own answer (200, in
   * order, the backend reading `urls`), none a 101, and the backend must see no upgrade
   * and no upgrade header.
   */
  async function assertServedPlain(label: string, payload: string, urls: readonly string[], bodyLengths?: readonly number[]): Promise<void> {
    const before = { urls: seen.urls.length, upgrades: seen.upgrades.length };
    const reply = await rawRequest(gw.port, payload, 3000);
    assert.doesNotMatch(reply.text, /^HTTP\/1\.[01] 101/m, `${label}: no protocol switch`);
    const parsed = parseResponses(reply.text, { closed: reply.closed });
    assert.equal(parsed.rest, '', `${label}: whole responses only: ${JSON.stringify(reply.text.slice(0, 300))}`);
    assert.deepEqual(parsed.responses.map((r) => r.status), urls.map(() => 200), `${label}: one 200 per request`);
    assert.deepEqual(parsed.responses.map((r) => (JSON.parse(r.body) as { url: string }).url), urls, `${label}: answers in order`);
    // Pipelined requests are forwarded concurrently: the backend may see them in any order.
    assert.deepEqual([...seen.urls.slice(before.urls)].sort(), [...urls].sort(), `${label}: each request routed and forwarded on its own`);
    for (const h of seen.headers.slice(before.urls)) {
      assert.equal(h.upgrade, undefined, `${label}: no Upgrade at the backend`);
      assert.equal(h['http2-settings'], undefined, `${label}: no HTTP2-Settings at the backend`);
      assert.doesNotMatch(h.connection ?? '', /upgrade/i, `${label}: no Connection: upgrade at the backend`);
    }
    if (bodyLengths !== undefined) assert.deepEqual(parsed.responses.map((r) => (JSON.parse(r.body) as { bodyLength: number }).bodyLength), bodyLengths, `${label}: body lengths`);
    assert.equal(seen.upgrades.length, before.upgrades, `${label}: the backend's upgrade handler never ran`);
  }

  it('serves `Upgrade: h2c` as plain HTTP/1.1: no 101, the backend never sees the upgrade, pipelined requests are routed normally', async () => {
    await assertServedPlain('h2c GET', `GET /h2c/one HTTP/1.1\r\nHost: a\r\n${H2C}\r\n${AFTER}`, ['/h2c/one', '/after-upgrade']);
    // The connection stays open after the ignored upgrade: a later request, sent on its own, is served too.
    const conn = await openRaw(gw.port);
    try {
      conn.write(`GET /h2c/keep HTTP/1.1\r\nHost: a\r\n${H2C}\r\n`);
      assert.ok(await conn.waitFor((t) => parseResponses(t).responses.length === 1, 3000), conn.text());
      assert.equal(parseResponses(conn.text()).responses[0]!.status, 200);
      assert.equal(conn.closed, false, 'keep-alive after an ignored h2c upgrade');
      conn.write(`GET /h2c/keep2 HTTP/1.1\r\nHost: a\r\n\r\n`);
      assert.ok(await conn.waitFor((t) => parseResponses(t).responses.length === 2, 3000), conn.text());
      assert.deepEqual(seen.urls.slice(-2), ['/h2c/keep', '/h2c/keep2']);
    } finally {
      conn.destroy();
    }
    // With a body (by length and chunked): the body is read as the body, the next request as a request.
    await assertServedPlain('h2c POST', `POST /h2c/post HTTP/1.1\r\nHost: a\r\n${H2C}Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}${AFTER}`, ['/h2c/post', '/after-upgrade'], [SMUGGLED.length, 0]);
    await assertServedPlain('h2c chunked', `POST /h2c/chunked HTTP/1.1\r\nHost: a\r\n${H2C}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n${AFTER}`, ['/h2c/chunked', '/after-upgrade'], [5, 0]);
    // Pipelined behind a plain request, and twice in a row: every answer in order.
    await assertServedPlain('h2c behind a request', `GET /h2c/first HTTP/1.1\r\nHost: a\r\n\r\nGET /h2c/second HTTP/1.1\r\nHost: a\r\n${H2C}\r\nGET /h2c/third HTTP/1.1\r\nHost: a\r\n${H2C}\r\n${AFTER}`, ['/h2c/first', '/h2c/second', '/h2c/third', '/after-upgrade']);
    // h2c among other offers, HTTP2-Settings with another protocol, the upper-case spelling.
    await assertServedPlain('h2c and websocket offered', `GET /h2c/both HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket, H2C\r\n\r\n${AFTER}`, ['/h2c/both', '/after-upgrade']);
    await assertServedPlain('HTTP2-Settings with websocket', `GET /h2c/settings HTTP/1.1\r\nHost: a\r\n${WS}HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n${AFTER}`, ['/h2c/settings', '/after-upgrade']);
    // RFC 9110 §7.8: an HTTP/1.0 request's Upgrade is ignored.
    await assertServedPlain('websocket on HTTP/1.0', `GET /h2c/old HTTP/1.0\r\nHost: a\r\n${WS}\r\n`, ['/h2c/old']);
  });

  it('serves `Connection: upgrade` without `Upgrade`, and `Upgrade` without `Connection: upgrade`, as plain requests', async () => {
    await assertServedPlain('Connection: upgrade alone', `GET /conn-only HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n${AFTER}`, ['/conn-only', '/after-upgrade']);
    await assertServedPlain('Upgrade alone', `GET /upgrade-only HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n${AFTER}`, ['/upgrade-only', '/after-upgrade']);
    await assertServedPlain('h2c without Connection', `GET /h2c-only HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n${AFTER}`, ['/h2c-only', '/after-upgrade']);
  });

  it('refuses upgrades the route does not allow, and upgrade requests with a body, without tunnelling what follows', async () => {
    const before = seen.upgrades.length;
    await assertRefused('websocket on a route with upgrades: []', `GET /plain-only/ws HTTP/1.1\r\nHost: a\r\n${WS}\r\n${SMUGGLED}`, 403, 'BRISK_UPGRADE_NOT_ALLOWED');
    const { response } = await send(`GET /plain-only/ws HTTP/1.1\r\nHost: a\r\n${WS}\r\n`);
    assert.match(errorOf(response).message, /route "plain-only" does not allow upgrades to "websocket" \(it allows none\); list the protocol in the route's `upgrades`/);
    await assertRefused('an unknown protocol on the default route', `GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: TLS/1.0\r\n\r\n${SMUGGLED}`, 403, 'BRISK_UPGRADE_NOT_ALLOWED');
    await assertRefused('websocket with a Content-Length body', `GET /ws HTTP/1.1\r\nHost: a\r\n${WS}Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`);
    await assertRefused('websocket with a chunked body', `POST /ws HTTP/1.1\r\nHost: a\r\n${WS}Transfer-Encoding: chunked\r\n\r\n${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`);
    assert.equal(seen.upgrades.length, before, 'no upgrade reached the backend');
    assert.ok(!seen.urls.includes('/smuggled'));
    const refusal = gw.logs.find((l) => l['type'] === 'access' && l['error'] === 'BRISK_UPGRADE_NOT_ALLOWED');
    assert.ok(refusal, 'the refusal is in the access log');
    assert.equal(refusal['route'], 'plain-only');
    assert.equal(refusal['status'], 403);
  });

  it('closes an HTTP/2 prior-knowledge preface sent to an HTTP/1.1 listener', async () => {
    const before = seen.started;
    const reply = await rawRequest(gw.port, `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n${SMUGGLED}`, 3000);
    assert.equal(reply.closed, true);
    assert.ok(reply.status === 0 || reply.status >= 400, `no tunnel: ${reply.text.slice(0, 100)}`);
    assert.equal(seen.started, before);
  });

  it('treats a request hidden in a body as body, and frames real pipelining correctly', async () => {
    const hidden = 'GET /hidden HTTP/1.1\r\nHost: a\r\n\r\n';
    const before = seen.urls.length;
    const { reply, response, count } = await send(`POST /outer HTTP/1.1\r\nHost: a\r\nContent-Length: ${hidden.length}\r\nConnection: close\r\n\r\n${hidden}`);
    assert.equal(response.status, 200);
    assert.equal(count, 1, `one response: ${reply.text}`);
    assert.deepEqual(seen.urls.slice(before), ['/outer']);
    assert.equal(seen.bodies.at(-1), hidden, 'the hidden request arrived as the body, byte for byte');
    // Real pipelining: a body, then a second request, each answered in order.
    const before2 = seen.urls.length;
    const piped = await rawRequest(gw.port, 'POST /p1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /p2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 3000);
    const parsed = parseResponses(piped.text, { closed: piped.closed });
    assert.deepEqual(parsed.responses.map((r) => r.status), [200, 200]);
    assert.equal(parsed.rest, '');
    assert.deepEqual(seen.urls.slice(before2), ['/p1', '/p2']);
    assert.deepEqual(parsed.responses.map((r) => (JSON.parse(r.body) as { bodyLength: number }).bodyLength), [5, 0]);
  });

  it('answers 431 BRISK_HEADERS_TOO_LARGE past maxHeaderSize and maxHeaderCount', async () => {
    await assertRefused('giant header', `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`, 431, 'BRISK_HEADERS_TOO_LARGE');
    await assertRefused('giant request line', `GET /${'a'.repeat(8000)} HTTP/1.1\r\nHost: a\r\n\r\n`, 431, 'BRISK_HEADERS_TOO_LARGE');
    const headers = (n: number) => Array.from({ length: n }, (_, i) => `X-H${i}: ${i}\r\n`).join('');
    // 20 headers with Host: at the limit, forwarded.
    const before = seen.started;
    const ok = await send(`GET /count HTTP/1.1\r\nHost: a\r\nConnection: close\r\n${headers(18)}\r\n`);
    assert.equal(ok.response.status, 200);
    assert.equal(seen.started, before + 1);
    // 21: refused. The framing is sound, so this one may keep the connection: not asserted.
    const many = await send(`GET /count HTTP/1.1\r\nHost: a\r\nConnection: close\r\n${headers(19)}\r\n`);
    assert.equal(many.response.status, 431);
    assert.equal(errorOf(many.response).code, 'BRISK_HEADERS_TOO_LARGE');
    const far = await send(`GET /count HTTP/1.1\r\nHost: a\r\nConnection: close\r\n${headers(300)}\r\n`);
    assert.equal(far.response.status, 431);
    assert.equal(seen.started, before + 1, 'neither refused request reached the backend');
  });

  it('answers 413 BRISK_BODY_TOO_LARGE for a Content-Length past the route limit', async () => {
    await assertRefused('CL 101 on a 100-byte route', `POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n${'x'.repeat(101)}`, 413, 'BRISK_BODY_TOO_LARGE');
    await assertRefused('CL 10 GB, no body sent', 'POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000000\r\n\r\n', 413, 'BRISK_BODY_TOO_LARGE');
    const before = seen.completed;
    const ok = await send(`POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\nConnection: close\r\n\r\n${'x'.repeat(100)}`);
    assert.equal(ok.response.status, 200, 'at the limit: accepted');
    assert.equal(seen.completed, before + 1);
  });

  it('answers 413 and closes when a chunked body outgrows the limit before any answer', async () => {
    // One chunk past the limit: nothing was forwarded yet.
    const before = { ...seen };
    await assertRefused('one big chunk', `POST /small HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n96\r\n${'x'.repeat(150)}\r\n`, 413, 'BRISK_BODY_TOO_LARGE');
    // Within the limit at first (the request is streamed to the backend), then past it:
    // the client still gets the 413 (no answer was under way), the connection closes, and
    // the backend's request is aborted, never completed.
    const conn = await openRaw(gw.port);
    try {
      conn.write(`POST /small/stream HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3c\r\n${'y'.repeat(60)}\r\n`);
      assert.ok(await backendWait(() => seen.started > before.started), 'the first chunk was streamed to the backend');
      conn.write(`3c\r\n${'z'.repeat(60)}\r\n`);
      assert.ok(await conn.waitClosed(3000), 'the gateway closes the connection');
      const parsed = parseResponses(conn.text(), { closed: true });
      assert.equal(parsed.responses.length, 1, conn.text());
      assert.equal(parsed.responses[0]!.status, 413);
      assert.equal(errorOf(parsed.responses[0]!).code, 'BRISK_BODY_TOO_LARGE');
      assert.ok(await backendWait(() => seen.aborted > before.aborted), 'the backend request was aborted');
      assert.equal(seen.completed, before.completed, 'the backend never got a complete body');
    } finally {
      conn.destroy();
    }
  });

  it('cuts a slowloris head at limits.headersTimeout', async () => {
    const before = seen.started;
    const conn = await openRaw(gw.port);
    const started = performance.now();
    conn.write('GET /slow HTTP/1.1\r\nHost: a\r\n');
    // One header line every 100 ms: the connection is never idle, the head never ends.
    let n = 0;
    const drip = setInterval(() => conn.write(`X-Drip-${n++}: 1\r\n`), 100);
    try {
      assert.ok(await conn.waitClosed(3000), 'closed within bounded time');
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 400 && elapsed < 2000, `closed after ${Math.round(elapsed)} ms (headersTimeout 500 ms)`);
      const parsed = parseResponses(conn.text(), { closed: true });
      if (parsed.responses.length > 0) {
        assert.equal(parsed.responses[0]!.status, 408);
        assert.equal(errorOf(parsed.responses[0]!).code, 'BRISK_REQUEST_TIMEOUT');
      } else assert.equal(conn.text(), '', 'a close without a partial answer');
      assert.equal(seen.started, before);
    } finally {
      clearInterval(drip);
      conn.destroy();
    }
  });

  it('cuts a slow body at limits.requestTimeout and aborts the forwarded request', async () => {
    const before = { ...seen };
    const conn = await openRaw(gw.port);
    const started = performance.now();
    conn.write(`POST /slow-body HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n${'b'.repeat(10)}`);
    const drip = setInterval(() => conn.write('b'), 100);
    try {
      assert.ok(await conn.waitClosed(4000), 'closed within bounded time');
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 900 && elapsed < 3000, `closed after ${Math.round(elapsed)} ms (requestTimeout 1 s)`);
      const parsed = parseResponses(conn.text(), { closed: true });
      assert.equal(parsed.rest, '', `no partial answer: ${conn.text()}`);
      if (parsed.responses.length > 0) {
        assert.equal(parsed.responses[0]!.status, 408);
        assert.equal(errorOf(parsed.responses[0]!).code, 'BRISK_REQUEST_TIMEOUT');
      }
      assert.ok(await backendWait(() => seen.aborted > before.aborted), 'the streamed request was aborted at the backend');
      assert.equal(seen.completed, before.completed);
    } finally {
      clearInterval(drip);
      conn.destroy();
    }
  });

  it('still serves normally afterwards, with no leaked connections or in-flight requests', async () => {
    const { response } = await send('GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.equal(response.status, 200);
    assert.equal((JSON.parse(response.body) as { url: string }).url, '/after');
    await waitUntil(() => gw.gw.openConnections === 0, 3000, () => `open client connections: ${gw.gw.openConnections}`);
    const target = gw.gw.runtime.upstreams.get('app')!.targets[0]!;
    assert.equal(target.inFlight, 0, 'no request left in flight');
    const mem = process.memoryUsage();
    assert.ok(mem.heapUsed < 300 * 1024 * 1024, `heap ${Math.round(mem.heapUsed / 1048576)} MB`);
    assert.ok(mem.rss < 600 * 1024 * 1024, `rss ${Math.round(mem.rss / 1048576)} MB`);
    assert.ok(gw.logs.some((l) => l['msg'] === 'rejected malformed request'), 'parser rejections are logged');
  });

  it('survives 300 mutated request heads: every reply is a whole response or a close', async () => {
    const seed = Number(process.env['BRISK_FUZZ_SEED'] ?? Date.now() % 2 ** 31);
    const random = mulberry32(seed);
    const bases = [
      'GET /fuzz/a?b=c HTTP/1.1\r\nHost: fuzz.test\r\nAccept: */*\r\nX-Request-Id: fuzz-1\r\n\r\n',
      'POST /fuzz/b HTTP/1.1\r\nHost: fuzz.test\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
      'POST /small/c HTTP/1.1\r\nHost: fuzz.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    ];
    const cases = Array.from({ length: 300 }, (_, i) => mutate(bases[i % bases.length]!, random));
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const i = next++;
        const payload = cases[i]!;
        const conn = await openRaw(gw.port);
        conn.write(Buffer.from(payload, 'latin1'));
        // Every path ends in a close: an answer with keep-alive idles out after 500 ms,
        // an incomplete request times out after 500 ms (head) or 1 s (body).
        const closed = await conn.waitClosed(4000);
        conn.destroy();
        const text = conn.text();
        const parsed = parseResponses(text, { closed: true, headRequest: payload.startsWith('HEAD ') });
        if (!closed) failures.push(`#${i} not closed within 4 s: ${JSON.stringify(payload)}`);
        else if (parsed.rest !== '') failures.push(`#${i} not a whole response: ${JSON.stringify(text.slice(0, 200))} for ${JSON.stringify(payload)}`);
      }
    };
    await Promise.all(Array.from({ length: 25 }, worker));
    assert.deepEqual(failures, [], `fuzz seed ${seed} (rerun with BRISK_FUZZ_SEED=${seed})`);
    const { response } = await send('GET /after-fuzz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.equal(response.status, 200, 'the gateway still serves');
    await waitUntil(() => gw.gw.openConnections === 0, 3000, () => `open client connections: ${gw.gw.openConnections}`);
    await waitUntil(() => gw.gw.runtime.upstreams.get('app')!.targets[0]!.inFlight === 0, 3000, () => 'requests left in flight');
  });
});

async function waitUntil(test: () => boolean, ms: number, describe: () => string): Promise<void> {
  const deadline = performance.now() + ms;
  // Polling: connection and in-flight counts change on close events the test has no handle on.
  while (!test()) {
    if (performance.now() > deadline) assert.fail(describe());
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A small seeded PRNG so a failing fuzz run can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One to three of: byte flips, a truncation, inserted CR/LF/CRLF, a duplicated slice. */
function mutate(base: string, random: () => number): string {
  let s = base;
  const pick = (n: number) => Math.floor(random() * n);
  const rounds = 1 + pick(3);
  for (let r = 0; r < rounds; r++) {
    const at = pick(s.length);
    switch (pick(4)) {
      case 0: {
        const flips = 1 + pick(3);
        const bytes = [...s];
        for (let f = 0; f < flips; f++) bytes[pick(bytes.length)] = String.fromCharCode(pick(256));
        s = bytes.join('');
        break;
      }
      case 1:
        s = s.slice(0, Math.max(1, at));
        break;
      case 2:
        s = s.slice(0, at) + ['\r\n', '\n', '\r', '\r\n\r\n'][pick(4)] + s.slice(at);
        break;
      default: {
        const len = 1 + pick(20);
        s = s.slice(0, at) + s.slice(at, at + len) + s.slice(at);
      }
    }
  }
  return s;
}
