import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { startBackend, type Backend } from './helpers/backend.js';
import { freePort } from './helpers/free-port.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

/** A `ws` backend that echoes every message and remembers each connection's close. */
interface WsBackend {
  readonly url: string;
  readonly wss: WebSocketServer;
  readonly server: Server;
  /** Upgrade requests as the backend saw them. */
  readonly requests: IncomingMessage[];
  /** Resolves with the server side of the connection whose upgrade request had this path. */
  connection(path: string): Promise<WebSocket>;
  close(): Promise<void>;
}

async function startWsBackend(): Promise<WsBackend> {
  const server = createServer((_req, res) => res.writeHead(426).end('upgrade required'));
  const wss = new WebSocketServer({ server, perMessageDeflate: true, maxPayload: 64 * 1024 * 1024 });
  const requests: IncomingMessage[] = [];
  const waiting = new Map<string, (ws: WebSocket) => void>();
  const ready = new Map<string, WebSocket>();
  wss.on('connection', (ws, req) => {
    requests.push(req);
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : data.toString();
      if (text === 'push please') {
        for (let i = 1; i <= 3; i++) ws.send(`push ${i}`);
        return;
      }
      ws.send(data as Buffer, { binary: isBinary });
    });
    ws.on('error', () => {});
    const path = req.url ?? '';
    const w = waiting.get(path);
    waiting.delete(path);
    if (w) w(ws);
    else ready.set(path, ws);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    wss,
    server,
    requests,
    connection(path) {
      const ws = ready.get(path);
      ready.delete(path);
      if (ws) return Promise.resolve(ws);
      return new Promise((resolve) => waiting.set(path, resolve));
    },
    async close() {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Opens a client WebSocket and waits for it to be open. */
async function open(url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, options);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
  return ws;
}

/** Connects and expects the handshake to be refused: the status and body the client got. */
async function refused(url: string): Promise<{ status: number; body: string; headers: IncomingMessage['headers'] }> {
  const ws = new WebSocket(url);
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the handshake unexpectedly succeeded'));
    });
    ws.once('error', (err) => reject(err));
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
      });
    });
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    const onMessage = (data: WebSocket.RawData, isBinary: boolean) => {
      ws.off('close', onClose);
      resolve({ data: Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer), isBinary });
    };
    const onClose = (code: number) => {
      ws.off('message', onMessage);
      reject(new Error(`closed (${code}) before a message arrived`));
    };
    ws.once('message', onMessage);
    ws.once('close', onClose);
  });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.reject(new Error('already closed'));
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

async function status(gw: TestGateway): Promise<{ openTunnels: number }> {
  const res = await fetch(`${gw.adminUrl}/api/status`);
  return (await res.json()) as { openTunnels: number };
}

/** Polls a condition that settles through socket closes the test does not see directly. */
async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function config(ws: WsBackend, refuse: Backend, deadPort: number, withWsRoute = true, stall = refuse): object {
  const routes: object[] = [
    { name: 'forbidden', match: { pathPrefix: '/forbidden' }, upstream: 'refuse' },
    { name: 'missing', match: { pathPrefix: '/missing' }, upstream: 'refuse' },
    { name: 'down', match: { pathPrefix: '/down' }, upstream: 'dead' },
    { name: 'stall', match: { pathPrefix: '/stall' }, upstream: 'stall' },
    { name: 'no-upgrades', match: { pathPrefix: '/no-upgrades' }, upstream: 'echo', upgrades: [] },
    { name: 'spelled', match: { pathPrefix: '/spelled' }, upstream: 'echo', rewrite: { stripPrefix: '/spelled' }, upgrades: ['WebSocket'] },
  ];
  if (withWsRoute) routes.unshift({ name: 'ws', match: { pathPrefix: '/ws' }, upstream: 'echo', rewrite: { stripPrefix: '/ws' } });
  return {
    upstreams: {
      echo: { targets: [{ url: ws.url }] },
      refuse: { targets: [{ url: refuse.url }] },
      dead: { targets: [{ url: `http://127.0.0.1:${deadPort}` }], timeouts: { connect: '1s' } },
      stall: { targets: [{ url: stall.url }], timeouts: { connect: '1s', response: '300ms' } },
    },
    routes,
  };
}

describe('WebSocket proxying', () => {
  let backend: WsBackend;
  let refuser: Backend;
  let deadPort: number;
  let staller: Backend;
  let gw: TestGateway;
  let wsUrl: string;
  const clients: WebSocket[] = [];
  const track = (ws: WebSocket) => {
    clients.push(ws);
    return ws;
  };

  before(async () => {
    backend = await startWsBackend();
    // A plain HTTP backend: node hands upgrade requests to 'request' when nobody listens for 'upgrade'.
    refuser = await startBackend((req, res) => {
      if (req.url?.startsWith('/forbidden')) res.writeHead(403, { 'content-type': 'text/plain', 'x-why': 'nope' }).end('no websockets for you');
      else res.writeHead(404, { 'content-type': 'text/plain' }).end('nothing here');
    });
    // Accepts the handshake request and never answers it.
    staller = await startBackend(() => {});
    // The socket must keep reading, or its end goes unseen and the server never closes.
    staller.server.on('upgrade', (_req: IncomingMessage, socket: import('node:stream').Duplex) => socket.on('end', () => socket.destroy()).resume());
    deadPort = await freePort();
    gw = await startGateway({
      ...(config(backend, refuser, deadPort, true, staller) as Record<string, unknown>),
      // Short client-side limits: they must not apply to a tunnel once it is open.
      limits: { headersTimeout: '500ms', requestTimeout: '1s', keepAliveTimeout: '500ms' },
    });
    wsUrl = `ws://127.0.0.1:${gw.port}/ws`;
  });
  after(async () => {
    for (const c of clients) c.terminate();
    await gw.stop();
    await backend.close();
    await refuser.close();
    await staller.close();
  });

  it('echoes text and binary messages, with the path rewritten and forwarding headers set', async () => {
    const ws = track(await open(`${wsUrl}/chat?room=1`));
    const server = await backend.connection('/chat?room=1');
    const req = backend.requests.at(-1)!;
    assert.equal(req.url, '/chat?room=1');
    assert.equal(req.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(req.headers['x-forwarded-proto'], 'http');
    assert.equal(req.headers['host'], `127.0.0.1:${gw.port}`);
    assert.equal(req.headers['upgrade'], 'websocket');
    assert.match(String(req.headers['via']), /1\.1 brisk/);
    assert.ok(server.readyState === WebSocket.OPEN);

    ws.send('hello');
    const text = await nextMessage(ws);
    assert.equal(text.isBinary, false);
    assert.equal(text.data.toString(), 'hello');

    const bin = randomBytes(1000);
    ws.send(bin);
    const echoed = await nextMessage(ws);
    assert.equal(echoed.isBinary, true);
    assert.ok(echoed.data.equals(bin));
    ws.close();
    await closed(ws);
  });

  it('passes the handshake headers through: subprotocol, permessage-deflate, request id', async () => {
    const ws = track(new WebSocket(`${wsUrl}/proto`, ['chat.v2', 'chat.v1'], { perMessageDeflate: true }));
    // 'open' follows 'upgrade' synchronously: listen for both before awaiting either.
    const upgraded = once(ws, 'upgrade') as Promise<[IncomingMessage]>;
    const opened = once(ws, 'open');
    const [[res]] = await Promise.all([upgraded, opened]);
    assert.equal(ws.protocol, 'chat.v2');
    assert.match(ws.extensions, /permessage-deflate/);
    assert.ok(res.headers['x-request-id'], 'the 101 carries the request id');
    ws.send('compressed '.repeat(1000));
    assert.equal((await nextMessage(ws)).data.toString(), 'compressed '.repeat(1000));
    ws.close();
    await closed(ws);
  });

  it('carries a 20 MB message each way with backpressure', async () => {
    const ws = track(await open(`${wsUrl}/big`, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 }));
    const big = randomBytes(20 * 1024 * 1024);
    ws.send(big);
    const echoed = await nextMessage(ws);
    assert.equal(echoed.data.length, big.length);
    assert.ok(echoed.data.equals(big));
    ws.close();
    await closed(ws);
  });

  it('delivers messages the server sends on its own', async () => {
    const ws = track(await open(`${wsUrl}/push`));
    const server = await backend.connection('/push');
    const got: string[] = [];
    const three = new Promise<void>((resolve) => {
      ws.on('message', (d) => {
        got.push(d.toString());
        if (got.length === 4) resolve();
      });
    });
    server.send('unprompted');
    ws.send('push please');
    await three;
    assert.deepEqual(got, ['unprompted', 'push 1', 'push 2', 'push 3']);
    ws.close();
    await closed(ws);
  });

  it('passes bytes the client sent together with the handshake (the upgrade head)', async () => {
    // One TCP write: the upgrade request and a masked text frame "early".
    const socket = connect(gw.port, '127.0.0.1');
    await once(socket, 'connect');
    const payload = Buffer.from('early');
    const mask = Buffer.from([1, 2, 3, 4]);
    const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]);
    const head =
      `GET /ws/raw HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    const serverSide = backend.connection('/raw');
    socket.write(Buffer.concat([Buffer.from(head), frame]));
    const server = await serverSide;
    const [msg] = (await once(server, 'message')) as [Buffer];
    assert.equal(msg.toString(), 'early');
    // The echo comes back unmasked after the 101.
    let received = Buffer.alloc(0);
    await new Promise<void>((resolve) => {
      socket.on('data', (c: Buffer) => {
        received = Buffer.concat([received, c]);
        if (received.includes(Buffer.from('early'))) resolve();
      });
    });
    assert.match(received.toString('latin1'), /^HTTP\/1\.1 101 /);
    socket.destroy();
  });

  it('propagates a close from the client to the backend, with code and reason', async () => {
    const ws = track(await open(`${wsUrl}/c1`));
    const server = await backend.connection('/c1');
    const serverClosed = closed(server);
    ws.close(4001, 'client bye');
    const seen = await serverClosed;
    assert.deepEqual(seen, { code: 4001, reason: 'client bye' });
    assert.equal((await closed(ws)).code, 4001);
  });

  it('propagates a close from the backend to the client, with code and reason', async () => {
    const ws = track(await open(`${wsUrl}/c2`));
    const server = await backend.connection('/c2');
    const clientClosed = closed(ws);
    server.close(4002, 'server bye');
    assert.deepEqual(await clientClosed, { code: 4002, reason: 'server bye' });
  });

  it('closes the client when the backend drops the TCP connection', async () => {
    const ws = track(await open(`${wsUrl}/c3`));
    const server = await backend.connection('/c3');
    const clientClosed = closed(ws);
    server.terminate();
    assert.equal((await clientClosed).code, 1006);
  });

  it('passes a backend refusal (403, 404) on to the client as is', async () => {
    const forbidden = await refused(`ws://127.0.0.1:${gw.port}/forbidden`);
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body, 'no websockets for you');
    assert.equal(forbidden.headers['x-why'], 'nope');
    const missing = await refused(`ws://127.0.0.1:${gw.port}/missing/x`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body, 'nothing here');
  });

  it("refuses a WebSocket on a route whose `upgrades` leaves it out (403 JSON), and matches the list case-insensitively", async () => {
    const seenBefore = backend.requests.length;
    const r = await refused(`ws://127.0.0.1:${gw.port}/no-upgrades/chat`);
    assert.equal(r.status, 403);
    const body = JSON.parse(r.body) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'BRISK_UPGRADE_NOT_ALLOWED');
    assert.match(body.error.message, /route "no-upgrades"/);
    assert.equal(backend.requests.length, seenBefore, 'the backend never saw the handshake');
    const ws = track(await open(`ws://127.0.0.1:${gw.port}/spelled/echo`));
    await backend.connection('/echo');
    ws.send('hello');
    assert.equal((await nextMessage(ws)).data.toString(), 'hello');
    ws.close();
  });

  it('answers 404 JSON when no route matches', async () => {
    const r = await refused(`ws://127.0.0.1:${gw.port}/nowhere`);
    assert.equal(r.status, 404);
    assert.match(String(r.headers['content-type']), /application\/json/);
    const body = JSON.parse(r.body) as { error: { code: string; requestId: string } };
    assert.equal(body.error.code, 'BRISK_ROUTE_NOT_FOUND');
    assert.ok(body.error.requestId);
  });

  it('answers 502 JSON when the upstream is down, and counts it against the target', async () => {
    const r = await refused(`ws://127.0.0.1:${gw.port}/down`);
    assert.equal(r.status, 502);
    assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'BRISK_UPSTREAM_CONNECT_FAILED');
    const dead = gw.gw.runtime.upstreams.get('dead')!;
    assert.ok(dead.targets[0]!.failures >= 1, 'the failed handshake is a failure of the target');
    assert.equal(dead.targets[0]!.inFlight, 0);
  });

  it('counts open tunnels in /api/status', async () => {
    await eventually(async () => (await status(gw)).openTunnels === 0, 'no tunnels left from earlier tests');
    const a = track(await open(`${wsUrl}/t1`));
    const b = track(await open(`${wsUrl}/t2`));
    assert.equal((await status(gw)).openTunnels, 2);
    a.close();
    await closed(a);
    await eventually(async () => (await status(gw)).openTunnels === 1, 'one tunnel after one close');
    b.terminate();
    await eventually(async () => (await status(gw)).openTunnels === 0, 'no tunnel after both closed');
  });

  it('keeps a WebSocket open across a reload that keeps its route, and closes it when the route goes', async () => {
    const ws = track(await open(`${wsUrl}/reload`));
    const server = await backend.connection('/reload');

    const reloaded = (withRoute: boolean) => ({
      ...(config(backend, refuser, deadPort, withRoute, staller) as Record<string, unknown>),
      limits: { headersTimeout: '500ms', requestTimeout: '1s', keepAliveTimeout: '500ms' },
    });
    gw.writeConfig(reloaded(true));
    const kept = await gw.gw.reload();
    assert.equal(kept.ok, true);
    assert.equal(ws.readyState, WebSocket.OPEN);
    ws.send('still here');
    assert.equal((await nextMessage(ws)).data.toString(), 'still here');
    assert.equal(gw.gw.openTunnels, 1);

    const clientClosed = closed(ws);
    const serverClosed = closed(server);
    gw.writeConfig(reloaded(false));
    const removed = await gw.gw.reload();
    assert.equal(removed.ok, true);
    await clientClosed;
    await serverClosed;
    assert.equal(gw.gw.openTunnels, 0);
    // The route is gone for new handshakes too.
    assert.equal((await refused(`${wsUrl}/reload`)).status, 404);

    gw.writeConfig(reloaded(true));
    assert.equal((await gw.gw.reload()).ok, true);
  });

  it('answers 504 when the target accepts the handshake request but never answers it', async () => {
    const started = Date.now();
    const r = await refused(`ws://127.0.0.1:${gw.port}/stall`);
    assert.equal(r.status, 504);
    assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'BRISK_UPSTREAM_RESPONSE_TIMEOUT');
    assert.ok(Date.now() - started < 3000, 'the response timeout (300ms) applies, not the default');
  });

  it('keeps an idle tunnel open past the listener request and keep-alive timeouts', async () => {
    const ws = track(await open(`${wsUrl}/idle`));
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(ws.readyState, WebSocket.OPEN);
    ws.send('awake');
    assert.equal((await nextMessage(ws)).data.toString(), 'awake');
    ws.close();
    await closed(ws);
  });

  it('pushes back on a fast sender when the client does not read (no buffering in the gateway)', async () => {
    const ws = track(await open(`${wsUrl}/slow`, { perMessageDeflate: false, maxPayload: 128 * 1024 * 1024 }));
    const server = await backend.connection('/slow');
    // The client stops reading from its socket: only TCP windows and the gateway's own
    // stream buffers can take what the server sends.
    const clientSocket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
    clientSocket.pause();
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const total = 64;
    for (let i = 0; i < total; i++) server.send(chunk, { binary: true });
    const rssBefore = process.memoryUsage().rss;
    // Wait until the server's buffer stops draining.
    let last = -1;
    await eventually(() => {
      const now = server.bufferedAmount;
      const stalled = now === last;
      last = now;
      return stalled;
    }, 'the server buffer to stop draining', 10000);
    const inFlight = total * chunk.length - server.bufferedAmount;
    assert.ok(server.bufferedAmount > 24 * 1024 * 1024, `the server still holds most of the data (holds ${server.bufferedAmount} bytes; ${inFlight} left it)`);
    assert.ok(process.memoryUsage().rss - rssBefore < 48 * 1024 * 1024, 'the gateway did not buffer the stalled stream');
    // Reading again lets everything through.
    let received = 0;
    const all = new Promise<void>((resolve) =>
      ws.on('message', (d: Buffer) => {
        received += d.length;
        if (received === total * chunk.length) resolve();
      }),
    );
    clientSocket.resume();
    await all;
    ws.close();
    await closed(ws);
  });
});
