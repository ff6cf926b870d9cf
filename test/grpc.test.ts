/**
 * gRPC through Brisk with real `@grpc/grpc-js` servers and clients: every kind of call
 * sees exactly what it sees direct (messages, metadata and trailers, binary values
 * included, error statuses), through a TLS+HTTP/2 listener and through an h2c listener,
 * to an `h2c://` target.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { loadEcho, startEchoServer, type EchoClient, type EchoServer } from './helpers/grpc.js';
import { allCalls, unary } from './helpers/grpc-calls.js';

function selfSigned(dir: string, cn: string): { cert: string; key: string; pem: Buffer } {
  const cert = join(dir, `${cn}.crt`);
  const key = join(dir, `${cn}.key`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn}`],
    { stdio: 'ignore' },
  );
  return { cert, key, pem: readFileSync(cert) };
}

describe('gRPC through Brisk (grpc-js client and server)', () => {
  let dir: string;
  let server: EchoServer;
  let gw: TestGateway;
  let tlsPem: Buffer;
  const { Client } = loadEcho();
  const clients: EchoClient[] = [];
  const client = (address: string, credentials = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}): EchoClient => {
    const c = new Client(address, credentials, options);
    clients.push(c);
    return c;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'brisk-grpc-test-'));
    const tls = selfSigned(dir, 'localhost');
    tlsPem = tls.pem;
    server = await startEchoServer();
    gw = await startGateway({
      listen: [
        { address: '127.0.0.1:0', name: 'h2c', h2c: true },
        { address: '127.0.0.1:0', name: 'tls', tls: { certificates: [{ cert: tls.cert, key: tls.key }] } },
      ],
      upstreams: { echo: { targets: [{ url: `h2c://127.0.0.1:${server.port}` }] } },
      routes: [{ name: 'echo', match: { grpc: 'brisk.test.Echo' }, upstream: 'echo' }],
    });
  });

  after(async () => {
    for (const c of clients) c.close();
    await gw?.stop();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every kind of call through a TLS+HTTP/2 listener sees what it sees direct', async () => {
    const direct = await allCalls(client(`127.0.0.1:${server.port}`));
    const via = await allCalls(client(`localhost:${gw.ports[1]}`, grpc.credentials.createSsl(tlsPem)));
    assert.equal(direct.unary!.code, grpc.status.OK);
    assert.equal(direct.fail!.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(direct.serverStream!.messages.length, 5);
    assert.ok(direct.fail!.trailers['x-error-detail-bin'], 'the error carries binary trailer metadata');
    assert.deepEqual(via, direct);
  });

  it('every kind of call through an h2c listener sees what it sees direct', async () => {
    const direct = await allCalls(client(`127.0.0.1:${server.port}`));
    const via = await allCalls(client(`127.0.0.1:${gw.ports[0]}`));
    assert.deepEqual(via, direct);
  });

  it('cancels the call at the service when the client cancels it', async () => {
    const c = client(`127.0.0.1:${gw.ports[0]}`);
    const before = server.cancelled();
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = c['Slow']!({ text: 'x', n: 5000 }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, () => {}) as grpc.ClientUnaryCall;
      call.on('status', resolve);
      setTimeout(() => call.cancel(), 100);
    });
    assert.equal(status.code, grpc.status.CANCELLED);
    const until = Date.now() + 2000;
    while (server.cancelled() === before && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.cancelled(), before + 1, 'the service saw the cancellation');
  });

  it('passes request metadata, binary values included, to the service', async () => {
    const before = server.seen.length;
    await unary(client(`127.0.0.1:${gw.ports[0]}`));
    const md = server.seen[before]!.metadata;
    assert.equal(md.get('x-client')[0], 'test');
    assert.deepEqual(md.get('x-client-bin')[0], Buffer.from([9, 8, 7, 0, 255]));
    // The client's 5 s deadline reaches the service (as grpc-timeout), less the time spent on the way.
    const left = Number(server.seen[before]!.deadline) - Date.now();
    assert.ok(left > 3000 && left <= 5000, `deadline at the service: ${left}ms left`);
  });
});
