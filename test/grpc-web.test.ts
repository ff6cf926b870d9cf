/**
 * gRPC-Web through Brisk (a route with `grpcWeb: true`) to a real grpc-js service: a
 * browser-style client over HTTP/1.1 (fetch), binary and base64 text, unary and server
 * streaming, an error with binary trailer metadata, and Brisk's own errors.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { startEchoServer, type EchoServer } from './helpers/grpc.js';

/** `Msg { string text = 1; int32 n = 2; }` in protobuf, by hand (small values only). */
function encodeMsg(text: string, n: number): Buffer {
  const t = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from([0x0a, t.length]), t, Buffer.from([0x10, n])]);
}

function decodeMsg(b: Buffer): { text: string; n: number } {
  let text = '';
  let n = 0;
  for (let i = 0; i < b.length; ) {
    const tag = b[i++]!;
    if (tag === 0x0a) {
      const len = b[i++]!;
      text = b.subarray(i, i + len).toString('utf8');
      i += len;
    } else if (tag === 0x10) n = b[i++]!;
    else throw new Error(`unexpected tag ${tag}`);
  }
  return { text, n };
}

const frame = (payload: Buffer): Buffer => {
  const p = Buffer.alloc(5);
  p.writeUInt32BE(payload.length, 1);
  return Buffer.concat([p, payload]);
};

/** Messages and trailers of a gRPC-Web body. */
function parseBody(body: Buffer): { messages: { text: string; n: number }[]; trailers: Record<string, string> } {
  const messages: { text: string; n: number }[] = [];
  const trailers: Record<string, string> = {};
  for (let i = 0; i < body.length; ) {
    const flag = body[i]!;
    const len = body.readUInt32BE(i + 1);
    const payload = body.subarray(i + 5, i + 5 + len);
    i += 5 + len;
    if (flag & 0x80) {
      for (const line of payload.toString('latin1').split('\r\n')) {
        const c = line.indexOf(':');
        if (c > 0) trailers[line.slice(0, c)] = line.slice(c + 1).trim();
      }
    } else messages.push(decodeMsg(payload));
  }
  return { messages, trailers };
}

describe('gRPC-Web through Brisk (grpcWeb: true)', () => {
  let server: EchoServer;
  let gw: TestGateway;

  before(async () => {
    server = await startEchoServer();
    gw = await startGateway({
      upstreams: { echo: { targets: [{ url: `h2c://127.0.0.1:${server.port}` }] } },
      routes: [
        { name: 'web-limited', match: { grpc: 'brisk.test.Echo/Slow' }, upstream: 'echo', grpcWeb: true, timeouts: { total: '20ms' } },
        { name: 'web', match: { grpc: 'brisk.test.Echo' }, upstream: 'echo', grpcWeb: true },
      ],
    });
  });

  after(async () => {
    await gw?.stop();
    await server?.stop();
  });

  const call = async (method: string, body: Buffer, text = false) => {
    const res = await fetch(`${gw.url}/brisk.test.Echo/${method}`, {
      method: 'POST',
      headers: { 'content-type': text ? 'application/grpc-web-text' : 'application/grpc-web+proto', 'x-grpc-web': '1', 'x-client-bin': Buffer.from([1, 2]).toString('base64') },
      body: text ? body.toString('base64') : body,
    });
    const raw = Buffer.from(await res.arrayBuffer());
    return { res, body: text ? Buffer.from(raw.toString('latin1'), 'base64') : raw, raw };
  };

  it('unary, binary: the message, then the trailers as the last message of the body', async () => {
    const { res, body } = await call('Unary', frame(encodeMsg('hi', 41)));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/grpc-web+proto');
    assert.equal(res.headers.get('x-init'), 'hello unary', 'initial metadata as headers');
    const parsed = parseBody(body);
    assert.deepEqual(parsed.messages, [{ text: 'echo hi', n: 42 }]);
    assert.equal(parsed.trailers['grpc-status'], '0');
    assert.equal(parsed.trailers['x-trail-bin'], Buffer.from([255, 0, 128, 7]).toString('base64'));
  });

  it('server streaming, base64 text both ways', async () => {
    const { res, body, raw } = await call('ServerStream', frame(encodeMsg('item', 3)), true);
    assert.equal(res.headers.get('content-type'), 'application/grpc-web-text+proto');
    assert.match(raw.toString('latin1'), /^[A-Za-z0-9+/=]+$/, 'the body is base64');
    const parsed = parseBody(body);
    assert.deepEqual(parsed.messages, [
      { text: 'item 0', n: 0 },
      { text: 'item 1', n: 1 },
      { text: 'item 2', n: 2 },
    ]);
    assert.equal(parsed.trailers['grpc-status'], '0');
  });

  it('an error status from the service, with its message and binary metadata', async () => {
    const { res, body } = await call('Fail', frame(encodeMsg('bad', 1)));
    assert.equal(res.status, 200);
    // The service answered trailers-only: the status is in the headers.
    const status = res.headers.get('grpc-status') ?? parseBody(body).trailers['grpc-status'];
    assert.equal(status, '3');
    assert.match(decodeURIComponent(res.headers.get('grpc-message') ?? ''), /no good: bad ✗ 100%/);
    assert.equal(res.headers.get('x-error-detail-bin'), Buffer.from('détail ✓', 'utf8').toString('base64'));
  });

  it("Brisk's own errors reach a gRPC-Web client as a status in headers", async () => {
    const { res } = await call('Slow', frame(encodeMsg('x', 127)));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('grpc-status'), '4', 'DEADLINE_EXCEEDED at the route timeout');
    assert.equal(res.headers.get('content-type'), 'application/grpc-web+proto');
    assert.ok(res.headers.get('x-request-id'));
  });
});
