import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type IncomingHttpStatusHeader } from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import tls, { type PeerCertificate } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { Gateway } from '../src/gateway/gateway.js';
import { startBackend, type Backend } from './helpers/backend.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { parseResponses } from './helpers/wire.js';

/** Whether `openssl` can be run; without it these tests are skipped with a reason. */
function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const OPENSSL_MISSING = hasOpenssl() ? false : 'openssl is not installed (apt-get install openssl)';

interface Cert {
  readonly cert: string;
  readonly key: string;
  readonly pem: Buffer;
}

/** A self-signed EC certificate for `cn` (also its only SAN), written to `dir`. */
function makeCert(dir: string, file: string, cn: string): Cert {
  const cert = join(dir, `${file}.crt`);
  const key = join(dir, `${file}.key`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn}`],
    { stdio: 'ignore' },
  );
  return { cert, key, pem: readFileSync(cert) };
}

/** The certificate the gateway presents for a given SNI name (undefined: no SNI sent). */
async function peerCertificate(port: number, servername: string | undefined, options: tls.ConnectionOptions = {}): Promise<PeerCertificate & { alpn: string | false }> {
  const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername === undefined ? {} : { servername }), ...options });
  await once(socket, 'secureConnect');
  const cert = socket.getPeerCertificate();
  const alpn = socket.alpnProtocol ?? false;
  socket.destroy();
  return Object.assign(cert, { alpn });
}

/** What the backend reports about the request it got. */
interface Seen {
  httpVersion: string;
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  bytes: number;
  sha256: string;
}

/**
 * Backend: `/echo` reports the request (counting and hashing the body as it streams);
 * `/stream?n=K` writes K chunks of 64 KiB; `/trailers` answers with trailers.
 */
async function startH1Backend(
  hooks: { firstByte?: () => void; afterFirstChunk?: () => Promise<void> } = {},
  streamStats: { written: number; pushedBack: number } = { written: 0, pushedBack: 0 },
): Promise<Backend> {
  return startBackend(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.endsWith('/stream')) {
      const n = Number(url.searchParams.get('n') ?? '16');
      const chunk = Buffer.alloc(64 * 1024, 'x');
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(chunk);
      streamStats.written = chunk.length;
      streamStats.pushedBack = 0;
      await hooks.afterFirstChunk?.();
      for (let i = 1; i < n && !res.destroyed; i++) {
        streamStats.written += chunk.length;
        if (!res.write(chunk)) {
          streamStats.pushedBack++;
          await new Promise<void>((resolve) => {
            const done = () => {
              res.off('drain', done);
              res.off('close', done);
              resolve();
            };
            res.on('drain', done);
            res.on('close', done);
          });
        }
      }
      res.end();
      return;
    }
    if (url.pathname.endsWith('/trailers')) {
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum, x-count' });
      res.write('part one;');
      res.write('part two');
      res.addTrailers({ 'x-checksum': 'abc123', 'x-count': '2' });
      res.end();
      return;
    }
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      if (bytes === 0) hooks.firstByte?.();
      bytes += chunk.length;
      hash.update(chunk);
    }
    const seen: Seen = { httpVersion: req.httpVersion, method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes, sha256: hash.digest('hex') };
    const json = JSON.stringify(seen);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json), 'x-backend': 'h1' });
    res.end(json);
  });
}

/** One HTTP/2 request: status, headers, body, trailers. */
async function h2request(
  session: ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer | AsyncIterable<Buffer>,
): Promise<{ status: number; headers: IncomingHttpHeaders & IncomingHttpStatusHeader; body: Buffer; trailers: IncomingHttpHeaders | null }> {
  const stream = session.request(headers, { endStream: body === undefined });
  let trailers: IncomingHttpHeaders | null = null;
  stream.on('trailers', (t) => (trailers = t));
  const responded = once(stream, 'response') as Promise<[IncomingHttpHeaders & IncomingHttpStatusHeader]>;
  if (Buffer.isBuffer(body)) stream.end(body);
  else if (body !== undefined) {
    void (async () => {
      for await (const chunk of body) if (!stream.write(chunk)) await once(stream, 'drain');
      stream.end();
    })();
  }
  const [resHeaders] = await responded;
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return { status: Number(resHeaders[':status']), headers: resHeaders, body: Buffer.concat(chunks), trailers };
}

function h2connect(port: number, ca: Buffer[], servername = 'a.test'): Promise<ClientHttp2Session> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca, servername });
  return new Promise((resolve, reject) => {
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

function httpsGet(port: number, path: string, ca: Buffer[], servername = 'a.test', headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions & tls.ConnectionOptions = { host: '127.0.0.1', port, path, ca, servername, headers: { host: `${servername}:${port}`, ...headers }, agent: false, ALPNProtocols: ['http/1.1'] };
    const req = https.request(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, alpn: (res.socket as tls.TLSSocket).alpnProtocol ?? false }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function* generated(total: number, chunkSize: number): AsyncGenerator<Buffer> {
  for (let sent = 0; sent < total; sent += chunkSize) yield randomBytes(Math.min(chunkSize, total - sent));
}

/**
 * Sends one HTTP/2 request as raw frames (node's client refuses to send connection-specific
 * headers such as `upgrade`), and reports the frames the server answered with within 2 s:
 * their types, the response `:status` when a HEADERS frame came, RST_STREAM's error code and the body.
 */
async function rawH2Request(port: number, path: string, extra: readonly [string, string][]): Promise<{ types: number[]; status?: number; rstCode?: number; body: string }> {
  const literal = (name: string, value: string) => Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
  const indexedName = (index: number, value: string) => Buffer.concat([Buffer.from([index, value.length]), Buffer.from(value)]);
  // HPACK: :method GET (static 2), :scheme https (static 7), :path and :authority by static name (4, 1).
  const block = Buffer.concat([Buffer.from([0x82, 0x87]), indexedName(4, path), indexedName(1, 'a.test'), ...extra.map(([n, v]) => literal(n, v))]);
  const frame = (type: number, flags: number, stream: number, payload: Buffer) => {
    const head = Buffer.alloc(9);
    head.writeUIntBE(payload.length, 0, 3);
    head[3] = type;
    head[4] = flags;
    head.writeUInt32BE(stream, 5);
    return Buffer.concat([head, payload]);
  };
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'a.test', rejectUnauthorized: false, ALPNProtocols: ['h2'] });
  await once(socket, 'secureConnect');
  assert.equal(socket.alpnProtocol, 'h2');
  let received = Buffer.alloc(0);
  // Done at the stream's end (END_STREAM on HEADERS or DATA), its reset, a GOAWAY, or a close.
  const ended = () => {
    for (let at = 0; at + 9 <= received.length; at += 9 + received.readUIntBE(at, 3)) {
      const type = received[at + 3]!;
      const stream = received.readUInt32BE(at + 5) & 0x7fffffff;
      if (type === 7 || (stream === 1 && (type === 3 || ((type === 0 || type === 1) && (received[at + 4]! & 0x1) !== 0)))) return at + 9 + received.readUIntBE(at, 3) <= received.length;
    }
    return false;
  };
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    socket.on('data', (c: Buffer) => {
      received = Buffer.concat([received, c]);
      if (ended()) done();
    });
    socket.on('close', done);
    socket.on('error', () => {});
    socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0)), frame(1, 0x5, 1, block)]));
  });
  socket.destroy();
  const result: { types: number[]; status?: number; rstCode?: number; body: string } = { types: [], body: '' };
  for (let at = 0; at + 9 <= received.length; ) {
    const length = received.readUIntBE(at, 3);
    const type = received[at + 3]!;
    const stream = received.readUInt32BE(at + 5) & 0x7fffffff;
    const payload = received.subarray(at + 9, at + 9 + length);
    if (stream === 1) {
      result.types.push(type);
      if (type === 3) result.rstCode = payload.readUInt32BE(0);
      if (type === 0) result.body += payload.toString();
      // The first byte of a response HEADERS block is :status as a static-table index (8 = 200 … 14 = 500) or a literal.
      if (type === 1 && payload[0]! >= 0x88 && payload[0]! <= 0x8e) result.status = [200, 204, 206, 304, 400, 404, 500][payload[0]! - 0x88];
    }
    at += 9 + length;
  }
  return result;
}

describe('TLS termination and HTTP/2', { skip: OPENSSL_MISSING }, () => {
  let dir: string;
  let certA: Cert;
  let certB: Cert;
  let ca: Buffer[];
  let backend: Backend;
  let gw: TestGateway;
  let h2Port: number;
  let httpsPort: number;
  /** Resolved by the backend when the first body byte of a streamed upload arrives. */
  let onFirstByte: (() => void) | null = null;
  /** Awaited by the backend after the first chunk of a streamed download. */
  let holdAfterFirstChunk: Promise<void> | null = null;
  const streamStats = { written: 0, pushedBack: 0 };
  let wsBackend: WebSocketServer;
  let wsPort: number;
  const wsSeen: Record<string, string | string[] | undefined>[] = [];
  /** Requests the HTTP/1.1 backend has received. */
  let backendRequests = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'brisk-tls-'));
    certA = makeCert(dir, 'a', 'a.test');
    certB = makeCert(dir, 'b', '*.b.test');
    ca = [certA.pem, certB.pem];
    backend = await startH1Backend({
      firstByte: () => onFirstByte?.(),
      afterFirstChunk: () => holdAfterFirstChunk ?? Promise.resolve(),
    }, streamStats);
    backend.server.on('request', () => backendRequests++);
    wsBackend = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wsBackend, 'listening');
    wsPort = (wsBackend.address() as { port: number }).port;
    wsBackend.on('connection', (ws, req) => {
      wsSeen.push(req.headers);
      ws.on('message', (d, isBinary) => ws.send(d as Buffer, { binary: isBinary }));
    });
    const certificates = [
      { cert: certA.cert, key: certA.key },
      { cert: certB.cert, key: certB.key },
    ];
    gw = await startGateway({
      listen: [
        { address: '127.0.0.1:0', name: 'h2', tls: { certificates } },
        { address: '127.0.0.1:0', name: 'https', tls: { certificates, http2: false } },
      ],
      upstreams: { app: { targets: [{ url: backend.url }] }, ws: { targets: [{ url: `http://127.0.0.1:${wsPort}` }] } },
      routes: [
        { name: 'ws', match: { pathPrefix: '/ws' }, upstream: 'ws' },
        { name: 'app', match: { pathPrefix: '/app' }, upstream: 'app', rewrite: { stripPrefix: '/app' } },
      ],
    });
    [h2Port, httpsPort] = gw.ports as [number, number];
  });
  after(async () => {
    await gw.stop();
    await backend.close();
    for (const c of wsBackend.clients) c.terminate();
    await new Promise<void>((resolve) => wsBackend.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports the listener protocols', () => {
    assert.deepEqual(
      gw.gw.listeners.map((l) => l.protocol),
      ['h2', 'https'],
    );
  });

  it('chooses the certificate by SNI: exact name, one-label wildcard, unknown name and no SNI → the first', async () => {
    for (const port of [h2Port, httpsPort]) {
      const a = await peerCertificate(port, 'a.test');
      assert.equal(a.subject.CN, 'a.test');
      assert.equal(a.subjectaltname, 'DNS:a.test');
      assert.equal((await peerCertificate(port, 'A.TEST')).subject.CN, 'a.test', 'SNI names are case-insensitive');
      const b = await peerCertificate(port, 'x.b.test');
      assert.equal(b.subject.CN, '*.b.test');
      assert.equal(b.subjectaltname, 'DNS:*.b.test');
      assert.equal((await peerCertificate(port, 'unknown.test')).subject.CN, 'a.test', 'an unknown name gets the default (first) certificate');
      assert.equal((await peerCertificate(port, 'y.x.b.test')).subject.CN, 'a.test', 'a wildcard covers one label only');
      assert.equal((await peerCertificate(port, 'b.test')).subject.CN, 'a.test', 'a wildcard does not cover the bare domain');
      assert.equal((await peerCertificate(port, undefined)).subject.CN, 'a.test', 'no SNI gets the default certificate');
    }
  });

  it('verifies against the certificates for their names (full chain check by the client)', async () => {
    const res = await httpsGet(httpsPort, '/app/verify', ca, 'x.b.test');
    assert.equal(res.status, 200);
    await assert.rejects(httpsGet(httpsPort, '/app/verify', ca, 'other.test'), /altnames|Hostname/i);
  });

  it('offers h2 then http/1.1 by ALPN on an http2 listener, and nothing on an http2: false one', async () => {
    assert.equal((await peerCertificate(h2Port, 'a.test', { ALPNProtocols: ['h2', 'http/1.1'] })).alpn, 'h2');
    assert.equal((await peerCertificate(h2Port, 'a.test', { ALPNProtocols: ['http/1.1'] })).alpn, 'http/1.1');
    assert.notEqual((await peerCertificate(httpsPort, 'a.test', { ALPNProtocols: ['h2', 'http/1.1'] })).alpn, 'h2');
    // An HTTP/2 client cannot talk to the https-only listener.
    const session = http2.connect(`https://127.0.0.1:${httpsPort}`, { ca, servername: 'a.test' });
    const [err] = (await once(session, 'error').catch((e: unknown) => [e])) as [Error];
    assert.ok(err instanceof Error);
    session.destroy();
  });

  it('proxies HTTP/2 to an HTTP/1.1 backend with forwarding headers and Host from :authority', async () => {
    const session = await h2connect(h2Port, ca);
    try {
      const res = await h2request(session, { ':method': 'GET', ':path': '/app/hello?x=1', ':authority': `a.test:${h2Port}`, 'x-custom': 'yes' });
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-backend'], 'h1');
      assert.equal(res.headers['via'], '1.1 brisk');
      assert.ok(res.headers['x-request-id']);
      const seen = JSON.parse(res.body.toString()) as Seen;
      assert.equal(seen.httpVersion, '1.1');
      assert.equal(seen.method, 'GET');
      assert.equal(seen.url, '/hello?x=1');
      assert.equal(seen.headers['host'], `a.test:${h2Port}`);
      assert.equal(seen.headers['x-forwarded-proto'], 'https');
      assert.equal(seen.headers['x-forwarded-host'], `a.test:${h2Port}`);
      assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(seen.headers['via'], '2 brisk');
      assert.equal(seen.headers['x-custom'], 'yes');
      assert.match(String(seen.headers['forwarded']), /proto=https/);
      for (const name of Object.keys(seen.headers)) assert.ok(!name.startsWith(':'), `pseudo-header ${name} leaked to the backend`);
      assert.equal(seen.bytes, 0);
    } finally {
      session.close();
    }
  });

  it('serves many concurrent streams on one HTTP/2 connection', async () => {
    const session = await h2connect(h2Port, ca);
    try {
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => h2request(session, { ':path': `/app/n${i}`, ':authority': 'a.test' })));
      results.forEach((r, i) => {
        assert.equal(r.status, 200);
        assert.equal((JSON.parse(r.body.toString()) as Seen).url, `/n${i}`);
      });
    } finally {
      session.close();
    }
  });

  it('answers gateway errors over HTTP/2 as JSON', async () => {
    const session = await h2connect(h2Port, ca);
    try {
      const res = await h2request(session, { ':path': '/nowhere', ':authority': 'a.test' });
      assert.equal(res.status, 404);
      assert.match(String(res.headers['content-type']), /application\/json/);
      assert.equal((JSON.parse(res.body.toString()) as { error: { code: string } }).error.code, 'BRISK_ROUTE_NOT_FOUND');
    } finally {
      session.close();
    }
  });

  it('falls back to HTTP/1.1 on the h2 listener (ALPN http/1.1)', async () => {
    const res = await httpsGet(h2Port, '/app/h1', ca);
    assert.equal(res.alpn, 'http/1.1');
    assert.equal(res.status, 200);
    const seen = JSON.parse(res.body) as Seen;
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['via'], '1.1 brisk');
    assert.equal(seen.headers['host'], `a.test:${h2Port}`);
  });

  it('never tunnels h2c: ignored on the HTTP/1.1 fallback, and an HTTP/2 request carrying upgrade headers never reaches the backend as one', async () => {
    // HTTP/1.1 over TLS on the h2 listener: the upgrade is ignored, the request served as a
    // plain one, and the request pipelined behind it too.
    const socket = tls.connect({ host: '127.0.0.1', port: h2Port, servername: 'a.test', ca, ALPNProtocols: ['http/1.1'] });
    await once(socket, 'secureConnect');
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.write('GET /app/h2c HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\nGET /app/after HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n');
    await once(socket, 'close');
    const parsed = parseResponses(text, { closed: true });
    assert.deepEqual(parsed.responses.map((r) => r.status), [200, 200], text);
    const seen = parsed.responses.map((r) => JSON.parse(r.body) as Seen);
    assert.deepEqual(seen.map((s) => s.url), ['/h2c', '/after']);
    assert.equal(seen[0]!.headers['upgrade'], undefined);
    assert.equal(seen[0]!.headers['http2-settings'], undefined);
    // HTTP/2 forbids connection-specific headers (RFC 9113 §8.2.2): a request carrying
    // `upgrade` or `connection` is malformed and reset by the protocol layer.
    const before = backendRequests;
    for (const extra of [[['upgrade', 'h2c']], [['connection', 'upgrade'], ['upgrade', 'websocket']], [['upgrade', 'h2c'], ['http2-settings', 'AAMAAABkAARAAAAAAAIAAAAA']]] as [string, string][][]) {
      const answer = await rawH2Request(h2Port, '/app/h2-upgrade', extra);
      assert.ok(answer.rstCode !== undefined || (answer.status !== undefined && answer.status >= 400), `refused: ${JSON.stringify(extra)} → ${JSON.stringify(answer)}`);
    }
    assert.equal(backendRequests, before, 'the backend saw none of them');
    // `HTTP2-Settings` alone is not refused by HTTP/2, but it is a hop-by-hop header: dropped.
    const settingsOnly = await rawH2Request(h2Port, '/app/h2-settings', [['http2-settings', 'AAMAAABkAARAAAAAAAIAAAAA']]);
    assert.equal(settingsOnly.status, 200);
    assert.equal((JSON.parse(settingsOnly.body) as Seen).headers['http2-settings'], undefined);
    // The same raw client without those headers is served: the probe itself is sound.
    assert.equal((await rawH2Request(h2Port, '/app/h2-plain', [])).status, 200);
  });

  it('serves HTTPS on the http2: false listener', async () => {
    const res = await httpsGet(httpsPort, '/app/plain', ca);
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as Seen).headers['x-forwarded-proto'], 'https');
  });

  it('streams a 5 MB HTTP/2 request body (with Content-Length) to the backend', async () => {
    const session = await h2connect(h2Port, ca);
    try {
      const body = randomBytes(5 * 1024 * 1024);
      const res = await h2request(session, { ':method': 'POST', ':path': '/app/upload', ':authority': 'a.test', 'content-length': String(body.length) }, body);
      assert.equal(res.status, 200);
      const seen = JSON.parse(res.body.toString()) as Seen;
      assert.equal(seen.bytes, body.length);
      assert.equal(seen.sha256, createHash('sha256').update(body).digest('hex'));
    } finally {
      session.close();
    }
  });

  it('streams an HTTP/2 request body of unknown length (no Content-Length) as it arrives', async () => {
    const session = await h2connect(h2Port, ca);
    try {
      const total = 5 * 1024 * 1024;
      const hash = createHash('sha256');
      let firstByteSeen!: () => void;
      const backendGotFirstByte = new Promise<void>((resolve) => (firstByteSeen = resolve));
      onFirstByte = firstByteSeen;
      async function* body(): AsyncGenerator<Buffer> {
        let sent = 0;
        for await (const chunk of generated(total, 256 * 1024)) {
          hash.update(chunk);
          yield chunk;
          // Hold back the rest until the backend has the first chunk: the body is streamed, not buffered.
          if (sent === 0) await backendGotFirstByte;
          sent += chunk.length;
        }
      }
      const res = await h2request(session, { ':method': 'POST', ':path': '/app/upload', ':authority': 'a.test' }, body());
      assert.equal(res.status, 200);
      const seen = JSON.parse(res.body.toString()) as Seen;
      assert.equal(seen.bytes, total);
      assert.equal(seen.sha256, hash.digest('hex'));
    } finally {
      onFirstByte = null;
      session.close();
    }
  });

  it('streams an HTTP/2 response as the backend writes it', async () => {
    const session = await h2connect(h2Port, ca);
    let release!: () => void;
    holdAfterFirstChunk = new Promise<void>((resolve) => (release = resolve));
    try {
      const stream = session.request({ ':path': '/app/stream?n=80', ':authority': 'a.test' });
      const [headers] = (await once(stream, 'response')) as [IncomingHttpHeaders & IncomingHttpStatusHeader];
      assert.equal(headers[':status'], 200);
      // The first chunk arrives while the backend is still holding the rest.
      const [first] = (await once(stream, 'data')) as [Buffer];
      assert.ok(first.length > 0);
      let bytes = first.length;
      release();
      for await (const c of stream as AsyncIterable<Buffer>) bytes += c.length;
      assert.equal(bytes, 80 * 64 * 1024);
    } finally {
      release();
      holdAfterFirstChunk = null;
      session.close();
    }
  });

  it('pushes back on the backend when an HTTP/2 client does not read (flow control reaches the target)', async () => {
    const session = await h2connect(h2Port, ca);
    try {
      const chunks = 2560; // 160 MiB of 64 KiB chunks
      const stream = session.request({ ':path': '/app/stream?n=' + chunks, ':authority': 'a.test' });
      await once(stream, 'response');
      stream.pause();
      let last = -1;
      for (let stable = 0; stable < 4; ) {
        await new Promise((r) => setTimeout(r, 100));
        stable = streamStats.written === last ? stable + 1 : 0;
        last = streamStats.written;
      }
      assert.ok(streamStats.pushedBack > 0, "the backend's res.write() returned false");
      assert.ok(streamStats.written < 64 * 1024 * 1024, `the backend stalled after ${Math.round(streamStats.written / 1024 / 1024)} MiB, not at the end`);
      let bytes = 0;
      stream.on('data', (c: Buffer) => (bytes += c.length));
      stream.resume();
      await once(stream, 'end');
      assert.equal(bytes, chunks * 64 * 1024);
    } finally {
      session.close();
    }
  });

  it('passes response trailers to an HTTP/2 client', async () => {
    const session = await h2connect(h2Port, ca);
    try {
      const res = await h2request(session, { ':path': '/app/trailers', ':authority': 'a.test', te: 'trailers' });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'part one;part two');
      assert.ok(res.trailers, 'trailers arrived');
      assert.equal(res.trailers['x-checksum'], 'abc123');
      assert.equal(res.trailers['x-count'], '2');
    } finally {
      session.close();
    }
  });

  it('tells the backend when an HTTP/2 client cancels its stream', async () => {
    const session = await h2connect(h2Port, ca);
    let release!: () => void;
    holdAfterFirstChunk = new Promise<void>((resolve) => (release = resolve));
    const backendSawClose = new Promise<void>((resolve) => backend.server.once('request', (_req, res) => res.once('close', () => resolve())));
    try {
      const stream = session.request({ ':path': '/app/stream?n=10000', ':authority': 'a.test' });
      await once(stream, 'data');
      stream.close(http2.constants.NGHTTP2_CANCEL);
      await backendSawClose;
    } finally {
      release();
      holdAfterFirstChunk = null;
      session.close();
    }
  });

  it('tunnels a WebSocket over TLS (wss) on the h2 listener and on the https listener', async () => {
    for (const port of [h2Port, httpsPort]) {
      const options: WebSocket.ClientOptions & tls.ConnectionOptions = { ca, servername: 'a.test', headers: { host: `a.test:${port}` } };
      const ws = new WebSocket(`wss://127.0.0.1:${port}/ws/chat`, options);
      try {
        await once(ws, 'open');
        ws.send(`over tls to ${port}`);
        const [msg] = (await once(ws, 'message')) as [Buffer];
        assert.equal(msg.toString(), `over tls to ${port}`);
        const seen = wsSeen.at(-1)!;
        assert.equal(seen['x-forwarded-proto'], 'https');
        assert.equal(seen['host'], `a.test:${port}`);
        ws.close();
        await once(ws, 'close');
      } finally {
        ws.terminate();
      }
    }
  });

  it('keeps serving after a client that is not speaking TLS', async () => {
    const { connect } = await import('node:net');
    const socket = connect(h2Port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(socket, 'close');
    assert.equal((await httpsGet(h2Port, '/app/after', ca)).status, 200);
  });
});

describe('TLS configuration errors', { skip: OPENSSL_MISSING }, () => {
  let dir: string;
  let certA: Cert;
  let certB: Cert;
  const silent = pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() }));

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'brisk-tls-bad-'));
    certA = makeCert(dir, 'a', 'a.test');
    certB = makeCert(dir, 'b', '*.b.test');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes a config into the certificate directory (so relative paths work) and starts it. */
  function start(certificates: object[], extra: Record<string, unknown> = {}): Promise<Gateway> {
    const file = join(dir, `brisk-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(
      file,
      JSON.stringify({
        listen: [{ address: '127.0.0.1:0', tls: { certificates, ...extra } }],
        upstreams: { app: { targets: [{ url: 'http://127.0.0.1:9' }] } },
        routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'app' }],
      }),
    );
    return Gateway.start({ configFile: file, watch: false, logger: silent });
  }

  it('reads certificate paths relative to the config file', async () => {
    const gw = await start([{ cert: 'a.crt', key: 'a.key' }]);
    try {
      assert.equal((await peerCertificate(gw.listeners[0]!.port, 'a.test')).subject.CN, 'a.test');
    } finally {
      await gw.stop();
    }
  });

  it('refuses a missing certificate file with a clear problem and starts nothing', async () => {
    await assert.rejects(start([{ cert: 'missing.crt', key: 'a.key' }]), (err: Error & { code?: string; problems?: { message: string; path: string }[] }) => {
      assert.ok(err.code === 'BRISK_CONFIG_INVALID' || err.code === 'BRISK_TLS_FILE_UNREADABLE', `code ${err.code}`);
      assert.match(err.message, /missing\.crt/);
      assert.match(err.message, /not found|cannot read/);
      return true;
    });
  });

  it('refuses a file that is not a certificate at its `cert` line (BRISK_CONFIG_INVALID) and starts nothing', async () => {
    writeFileSync(join(dir, 'garbage.crt'), 'this is not PEM\n');
    await assert.rejects(start([{ cert: 'garbage.crt', key: 'a.key' }]), (err: Error & { code?: string; problems?: { message: string; path: string; line: number }[] }) => {
      assert.equal(err.code, 'BRISK_CONFIG_INVALID');
      assert.match(err.message, /garbage\.crt/);
      assert.deepEqual(err.problems?.map((p) => p.path), ['listen.0.tls.certificates.0.cert']);
      assert.match(err.problems![0]!.message, /is not a PEM certificate/);
      return true;
    });
  });

  it('refuses a key that does not belong to its certificate at its `key` line (BRISK_CONFIG_INVALID)', async () => {
    await assert.rejects(start([{ cert: certA.cert, key: certB.key }]), (err: Error & { code?: string; problems?: { message: string; path: string }[] }) => {
      assert.equal(err.code, 'BRISK_CONFIG_INVALID');
      assert.match(err.message, /a\.crt/);
      assert.deepEqual(err.problems?.map((p) => p.path), ['listen.0.tls.certificates.0.key']);
      assert.match(err.problems![0]!.message, /does not belong to certificate/);
      return true;
    });
  });

  it('refuses with BRISK_TLS_FILE_UNREADABLE when a certificate changed into garbage after the config was checked', async () => {
    const { loadTls } = await import('../src/listeners/tls.js');
    writeFileSync(join(dir, 'changed.crt'), 'this is not PEM\n');
    assert.throws(
      () => loadTls({ certificates: [{ certFile: join(dir, 'changed.crt'), keyFile: certA.key }], http2: true, minVersion: 'TLSv1.2' }, 'main'),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'BRISK_TLS_FILE_UNREADABLE');
        assert.match(err.message, /^listener "main": .*changed\.crt is not a PEM certificate/);
        return true;
      },
    );
  });

  it('applies serverNames from the config instead of the names in the certificate', async () => {
    const gw = await start([
      { cert: 'a.crt', key: 'a.key' },
      { cert: 'b.crt', key: 'b.key', serverNames: ['api.example.test'] },
    ]);
    try {
      const port = gw.listeners[0]!.port;
      assert.equal((await peerCertificate(port, 'api.example.test')).subject.CN, '*.b.test');
      assert.equal((await peerCertificate(port, 'x.b.test')).subject.CN, 'a.test', 'the names in the certificate are replaced');
    } finally {
      await gw.stop();
    }
  });

  it('enforces minVersion: TLSv1.3', async () => {
    const gw = await start([{ cert: 'a.crt', key: 'a.key' }], { minVersion: 'TLSv1.3' });
    try {
      const port = gw.listeners[0]!.port;
      await assert.rejects(peerCertificate(port, 'a.test', { maxVersion: 'TLSv1.2' }));
      assert.equal((await peerCertificate(port, 'a.test')).subject.CN, 'a.test');
    } finally {
      await gw.stop();
    }
  });
});
