/**
 * gRPC clients and Brisk's own decisions: errors answered as gRPC statuses (no route, no
 * target, deadline, rate limit), retries only of safe calls on UNAVAILABLE without a
 * message, the gRPC health check, and per-method metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { loadEcho, startEchoServer, type EchoClient, type EchoServer } from './helpers/grpc.js';
import { serverStream } from './helpers/grpc-calls.js';
import { freePort } from './helpers/free-port.js';

describe('gRPC: Brisk decisions as gRPC statuses, retries, health', () => {
  let good: EchoServer;
  let unavailable: EchoServer;
  let gw: TestGateway;
  const { Client } = loadEcho();
  const clients: grpc.Client[] = [];
  const client = (): EchoClient => {
    const c = new Client(`127.0.0.1:${gw.port}`, grpc.credentials.createInsecure());
    clients.push(c);
    return c;
  };

  before(async () => {
    good = await startEchoServer();
    unavailable = await startEchoServer({ unaryStatus: grpc.status.UNAVAILABLE });
    const dead = await freePort();
    const both = [{ url: `h2c://127.0.0.1:${unavailable.port}` }, { url: `h2c://127.0.0.1:${good.port}` }];
    gw = await startGateway({
      listen: [{ address: '127.0.0.1:0', h2c: true }],
      upstreams: {
        good: { targets: [{ url: `h2c://127.0.0.1:${good.port}` }], hedge: 'off' },
        // No ejection: these tests count what happens to each call, not how the target is judged.
        flaky: { targets: both, balancer: 'round-robin', hedge: 'off', retry: { backoff: { base: 0 } }, outlierDetection: { consecutive5xx: 0 } },
        gone: { targets: [{ url: `h2c://127.0.0.1:${dead}` }], retry: { attempts: 0 } },
        ejecting: { targets: both, balancer: 'round-robin', hedge: 'off', outlierDetection: { consecutive5xx: 2, baseEjectionTime: '30s' } },
        checked: {
          targets: both,
          balancer: 'round-robin',
          healthCheck: { type: 'grpc', service: 'brisk.test.Echo', interval: '100ms', timeout: '500ms', unhealthyThreshold: 1, healthyThreshold: 1 },
        },
      },
      routes: [
        { name: 'retried', match: { grpc: 'brisk.test.Echo/Unary', headers: { 'x-case': 'idempotent' } }, upstream: 'flaky', idempotent: true },
        { name: 'not-retried', match: { grpc: 'brisk.test.Echo/Unary', headers: { 'x-case': 'plain' } }, upstream: 'flaky' },
        { name: 'no-target', match: { grpc: 'brisk.test.Echo/Unary', headers: { 'x-case': 'gone' } }, upstream: 'gone' },
        { name: 'ejected', match: { grpc: 'brisk.test.Echo/Unary', headers: { 'x-case': 'ejecting' } }, upstream: 'ejecting' },
        { name: 'health', match: { grpc: 'brisk.test.Echo/Unary', headers: { 'x-case': 'checked' } }, upstream: 'checked' },
        { name: 'deadline', match: { grpc: 'brisk.test.Echo/Slow' }, upstream: 'good', timeouts: { total: '150ms' } },
        { name: 'limited', match: { grpc: 'brisk.test.Echo/ServerStream' }, upstream: 'good', rateLimit: { limits: [{ rate: 1, per: '1m', burst: 1, key: 'route' }] } },
        { name: 'echo', match: { grpc: 'brisk.test.Echo' }, upstream: 'good' },
      ],
      metrics: { enabled: true },
    });
  });

  after(async () => {
    for (const c of clients) c.close();
    await gw?.stop();
    await good?.stop();
    await unavailable?.stop();
  });

  /** A unary call with `x-case` metadata; resolves with the status. */
  const call = (c: EchoClient, which: string, method = 'Unary', deadlineMs = 5000, n = 1): Promise<grpc.StatusObject> =>
    new Promise((resolve) => {
      const md = new grpc.Metadata();
      md.set('x-case', which);
      const handle = c[method]!({ text: which, n }, md, { deadline: Date.now() + deadlineMs }, () => {}) as grpc.ClientUnaryCall;
      handle.on('status', resolve);
    });

  it('answers a call no route takes with UNIMPLEMENTED', async () => {
    const c = new grpc.Client(`127.0.0.1:${gw.port}`, grpc.credentials.createInsecure());
    clients.push(c);
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const h = c.makeUnaryRequest('/brisk.test.Nope/Call', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), () => {});
      h.on('status', resolve);
    });
    assert.equal(status.code, grpc.status.UNIMPLEMENTED);
    assert.match(status.details, /no route for POST \/brisk\.test\.Nope\/Call/);
    assert.ok(status.metadata.get('x-request-id').length === 1, 'the request id is in the status metadata');
  });

  it('answers a target that refuses connections with UNAVAILABLE, naming the upstream', async () => {
    const status = await call(client(), 'gone');
    assert.equal(status.code, grpc.status.UNAVAILABLE);
    assert.match(status.details, /upstream "gone": could not connect/);
  });

  it("answers the route's total timeout with DEADLINE_EXCEEDED before the client's own deadline", async () => {
    const started = Date.now();
    const status = await call(client(), 'slow', 'Slow', 5000, 2000);
    assert.equal(status.code, grpc.status.DEADLINE_EXCEEDED);
    assert.match(status.details, /exceeded the total timeout/);
    assert.ok(Date.now() - started < 1500, 'answered at the route deadline');
  });

  it('answers a rate-limited call with RESOURCE_EXHAUSTED', async () => {
    const first = await serverStream(client(), 2);
    assert.equal(first.code, grpc.status.OK);
    const second = await serverStream(client(), 2);
    assert.equal(second.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.deepEqual(second.messages, []);
  });

  it('retries UNAVAILABLE without a message on another target for an idempotent route, and not otherwise', async () => {
    const c = client();
    const retried = [];
    for (let i = 0; i < 4; i++) retried.push((await call(c, 'idempotent')).code);
    assert.deepEqual(retried, [0, 0, 0, 0], 'every call reached the good target in the end');
    const plain = [];
    for (let i = 0; i < 4; i++) plain.push((await call(c, 'plain')).code);
    assert.equal(plain.filter((s) => s === grpc.status.UNAVAILABLE).length, 2, `round robin: half the calls got the unavailable target and were not retried (${plain.join(',')})`);
  });

  it('ejects a target whose calls keep failing with UNAVAILABLE, though they come with HTTP 200', async () => {
    const c = client();
    const codes = [];
    for (let i = 0; i < 10; i++) codes.push((await call(c, 'ejecting')).code);
    assert.equal(codes.filter((s) => s === grpc.status.UNAVAILABLE).length, 2, `two failures, then the target is out (${codes.join(',')})`);
    assert.deepEqual(codes.slice(-4), [0, 0, 0, 0]);
  });

  it('takes a target out when its gRPC health check says NOT_SERVING, and back when SERVING', async () => {
    const c = client();
    await waitFor(async () => (await targetOf('checked', unavailable.port)).available && (await targetOf('checked', good.port)).available);
    unavailable.setHealth('brisk.test.Echo', false);
    await waitFor(async () => !(await targetOf('checked', unavailable.port)).available);
    assert.equal((await targetOf('checked', unavailable.port)).activeReason, 'NOT_SERVING');
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await call(c, 'checked')).code);
    assert.deepEqual(codes, [0, 0, 0, 0], 'only the serving target is called');
    unavailable.setHealth('brisk.test.Echo', true);
    await waitFor(async () => (await targetOf('checked', unavailable.port)).available);
  });

  it('counts calls per gRPC method and status, with a latency histogram', async () => {
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const sample = (labels: string): number => Number(new RegExp(`^brisk_grpc_requests_total\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    assert.equal(sample('route="retried",grpc_service="brisk.test.Echo",grpc_method="Unary",grpc_status="OK"'), 4);
    assert.equal(sample('route="not-retried",grpc_service="brisk.test.Echo",grpc_method="Unary",grpc_status="UNAVAILABLE"'), 2);
    assert.equal(sample('route="deadline",grpc_service="brisk.test.Echo",grpc_method="Slow",grpc_status="DEADLINE_EXCEEDED"'), 1);
    assert.equal(sample('route="limited",grpc_service="brisk.test.Echo",grpc_method="ServerStream",grpc_status="RESOURCE_EXHAUSTED"'), 1);
    assert.match(text, /^brisk_grpc_request_duration_seconds_count\{route="retried",grpc_service="brisk.test.Echo",grpc_method="Unary"\} 4$/m);
  });

  /** A target of an upstream as the admin API shows it. */
  async function targetOf(upstream: string, port: number): Promise<{ available: boolean; activeReason?: string }> {
    const res = await fetch(`${gw.adminUrl}/api/upstreams/${upstream}/targets`);
    const body = (await res.json()) as { targets: { url: string; available: boolean; activeReason?: string }[] };
    const t = body.targets.find((x) => x.url.endsWith(`:${port}`));
    assert.ok(t, `target on port ${port} in ${JSON.stringify(body)}`);
    return t;
  }
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
