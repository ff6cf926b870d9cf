import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startBackend, type Backend, type EchoBody } from './helpers/backend.js';
import { freePort } from './helpers/free-port.js';
import { simpleConfig, startGateway, type TestGateway } from './helpers/gateway.js';

const TID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PID = '00f067aa0ba902b7';

interface OtlpAttr {
  key: string;
  value: { stringValue?: string; intValue?: string; boolValue?: boolean };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpAttr[];
  status?: { code: number; message?: string };
}

/** A real OTLP/HTTP receiver on loopback: parses every export and keeps the spans. */
interface Collector {
  readonly url: string;
  readonly spans: OtlpSpan[];
  readonly requests: { path: string; contentType: string | undefined; headers: IncomingMessage['headers'] }[];
  /** Statuses to answer the next exports with (then 200). */
  failNext: number[];
  waitFor(pred: (spans: OtlpSpan[]) => boolean, ms?: number): Promise<void>;
  close(): Promise<void>;
}

async function startCollector(): Promise<Collector> {
  const spans: OtlpSpan[] = [];
  const requests: Collector['requests'] = [];
  const c = {
    failNext: [] as number[],
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      requests.push({ path: req.url ?? '', contentType: req.headers['content-type'], headers: req.headers });
      const status = c.failNext.shift();
      if (status !== undefined) {
        res.writeHead(status, { 'retry-after': '0' }).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString()) as {
        resourceSpans: { resource: { attributes: OtlpAttr[] }; scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[] }[];
      };
      for (const rs of body.resourceSpans) {
        assert.equal(rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue, 'gw-test');
        for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return Object.assign(c, {
    url: `http://127.0.0.1:${port}`,
    spans,
    requests,
    async waitFor(pred: (s: OtlpSpan[]) => boolean, ms = 5000) {
      const until = Date.now() + ms;
      while (!pred(spans)) {
        if (Date.now() > until) throw new Error(`timed out waiting for spans; have ${spans.length}: ${spans.map((s) => s.name).join(', ')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

function attr(span: OtlpSpan, key: string): string | boolean | undefined {
  const v = span.attributes.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : (v.stringValue ?? v.intValue ?? v.boolValue);
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

function accessLines(gw: TestGateway): Record<string, unknown>[] {
  return gw.logs.filter((l) => l['type'] === 'access');
}

describe('W3C trace context propagation', () => {
  let backend: Backend;
  let gw: TestGateway;
  before(async () => {
    backend = await startBackend();
    gw = await startGateway(simpleConfig([backend.url]));
  });
  after(async () => {
    await gw.stop();
    await backend.close();
  });

  it('starts a trace when there is none: sampled, in the access log line', async () => {
    const res = await get(`${gw.url}/a`);
    const seen = (JSON.parse(res.body) as EchoBody).headers;
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(seen['traceparent'] as string);
    assert.ok(m, `traceparent ${String(seen['traceparent'])}`);
    assert.notEqual(m[1], '0'.repeat(32));
    assert.equal(seen['tracestate'], undefined);
    const line = accessLines(gw).find((l) => l['path'] === '/a')!;
    assert.equal(line['traceId'], m[1]);
  });

  it('continues a valid incoming trace with a new parent span, keeping flags and tracestate', async () => {
    const res = await get(`${gw.url}/b`, { traceparent: `00-${TID}-${PID}-00`, tracestate: 'rojo=00f067aa0ba902b7, congo=t61rcWkgMzE' });
    const seen = (JSON.parse(res.body) as EchoBody).headers;
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-00$/.exec(seen['traceparent'] as string);
    assert.ok(m, String(seen['traceparent']));
    assert.equal(m[1], TID);
    assert.notEqual(m[2], PID, 'the target’s parent is the gateway’s try, not the caller');
    assert.equal(seen['tracestate'], 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    assert.equal(accessLines(gw).find((l) => l['path'] === '/b')!['traceId'], TID);
  });

  it('a future version is read by its first fields and sent on as version 00', async () => {
    const res = await get(`${gw.url}/future`, { traceparent: `cc-${TID}-${PID}-01-future-stuff` });
    const seen = (JSON.parse(res.body) as EchoBody).headers;
    assert.match(seen['traceparent'] as string, new RegExp(`^00-${TID}-[0-9a-f]{16}-01$`));
  });

  it('an invalid traceparent starts a new trace and its tracestate is dropped', async () => {
    for (const bad of [`00-${'0'.repeat(32)}-${PID}-01`, `00-${TID.toUpperCase()}-${PID}-01`, `ff-${TID}-${PID}-01`, 'garbage']) {
      const res = await get(`${gw.url}/c`, { traceparent: bad, tracestate: 'rojo=1' });
      const seen = (JSON.parse(res.body) as EchoBody).headers;
      const tp = seen['traceparent'] as string;
      assert.match(tp, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, bad);
      assert.ok(!tp.includes(TID.toLowerCase()), bad);
      assert.equal(seen['tracestate'], undefined, bad);
    }
  });

  it('a malformed tracestate is dropped, the trace kept', async () => {
    const res = await get(`${gw.url}/d`, { traceparent: `00-${TID}-${PID}-01`, tracestate: 'Bad Key=1' });
    const seen = (JSON.parse(res.body) as EchoBody).headers;
    assert.match(seen['traceparent'] as string, new RegExp(`^00-${TID}-`));
    assert.equal(seen['tracestate'], undefined);
  });

  it('error bodies carry the trace id', async () => {
    const stopped = await startGateway(simpleConfig([backend.url], { routes: [{ name: 'only', match: { path: '/only' }, upstream: 'app' }] }));
    try {
      const res = await get(`${stopped.url}/nowhere`, { traceparent: `00-${TID}-${PID}-01` });
      assert.equal(res.status, 404);
      const body = JSON.parse(res.body) as { error: { code: string; traceId: string } };
      assert.equal(body.error.code, 'BRISK_ROUTE_NOT_FOUND');
      assert.equal(body.error.traceId, TID);
    } finally {
      await stopped.stop();
    }
  });

  it('with propagate: false the headers pass through untouched', async () => {
    const off = await startGateway(simpleConfig([backend.url], { tracing: { propagate: false } }));
    try {
      const none = (JSON.parse((await get(`${off.url}/e`)).body) as EchoBody).headers;
      assert.equal(none['traceparent'], undefined);
      const passed = (JSON.parse((await get(`${off.url}/e`, { traceparent: 'whatever' })).body) as EchoBody).headers;
      assert.equal(passed['traceparent'], 'whatever');
      assert.equal(accessLines(off)[0]!['traceId'], undefined);
    } finally {
      await off.stop();
    }
  });

  it('WebSocket upgrades get a traceparent of their own too', async () => {
    const seen: IncomingMessage[] = [];
    const up = createServer();
    up.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      seen.push(req);
      socket.end('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n');
    });
    up.listen(0, '127.0.0.1');
    await once(up, 'listening');
    const wsGw = await startGateway(simpleConfig([`http://127.0.0.1:${(up.address() as AddressInfo).port}`]));
    try {
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: wsGw.port, path: '/ws', headers: { connection: 'upgrade', upgrade: 'websocket', traceparent: `00-${TID}-${PID}-01` } });
        req.on('upgrade', (_res, socket: Socket) => {
          socket.destroy();
          resolve();
        });
        req.on('error', reject);
        req.end();
      });
      assert.match(seen[0]!.headers['traceparent'] as string, new RegExp(`^00-${TID}-(?!${PID})[0-9a-f]{16}-01$`));
    } finally {
      await wsGw.stop();
      up.close();
    }
  });
});

describe('OTLP span export', () => {
  let collector: Collector;
  let backend: Backend;
  let deadPort: number;
  before(async () => {
    collector = await startCollector();
    backend = await startBackend();
    deadPort = await freePort();
  });
  after(async () => {
    await collector.close();
    await backend.close();
  });

  const tracing = (extra: Record<string, unknown> = {}) => ({
    serviceName: 'gw-test',
    otlp: { endpoint: collector.url, interval: '50ms', batchSize: 50, headers: { 'x-api-key': 'k1' } },
    ...extra,
  });

  it('exports a server span per request and a client span per try, with semantic-convention attributes', async () => {
    const gw = await startGateway({
      upstreams: { app: { targets: [{ url: `http://127.0.0.1:${deadPort}` }, { url: backend.url }], balancer: 'round-robin', retry: { attempts: 2, backoff: { base: 0 } } } },
      routes: [{ name: 'api', match: { pathPrefix: '/api' }, upstream: 'app' }],
      tracing: tracing(),
    });
    try {
      // Round robin: one of two requests starts on the dead target and is retried.
      const seenParents: string[] = [];
      for (const p of ['/api/one?token=secret', '/api/two']) {
        const res = await get(`${gw.url}${p}`);
        assert.equal(res.status, 200);
        seenParents.push(((JSON.parse(res.body) as EchoBody).headers['traceparent'] as string).split('-')[2]!);
      }
      await collector.waitFor((s) => s.filter((x) => x.kind === 2).length >= 2 && s.filter((x) => x.kind === 3).length >= 3);
      assert.equal(collector.requests[0]!.path, '/v1/traces');
      assert.equal(collector.requests[0]!.contentType, 'application/json');
      assert.equal(collector.requests[0]!.headers['x-api-key'], 'k1');
      const servers = collector.spans.filter((s) => s.kind === 2);
      const retried = servers.find((s) => attr(s, 'brisk.attempts') === '2')!;
      assert.ok(retried, 'one request was retried');
      const clients = collector.spans.filter((s) => s.kind === 3 && s.traceId === retried.traceId);
      assert.equal(clients.length, 2);
      assert.notEqual(clients[0]!.spanId, clients[1]!.spanId);
      for (const c of clients) assert.equal(c.parentSpanId, retried.spanId);
      const failed = clients.find((c) => attr(c, 'error.type') === 'BRISK_UPSTREAM_CONNECT_FAILED')!;
      assert.ok(failed, 'the failed try names its error');
      assert.equal(failed.status?.code, 2);
      const ok = clients.find((c) => c !== failed)!;
      assert.equal(attr(ok, 'http.response.status_code'), '200');
      assert.equal(attr(ok, 'http.request.resend_count'), '1');
      assert.ok(seenParents.includes(ok.spanId), 'the target saw the try’s own span id as its parent');

      for (const s of servers) {
        assert.match(s.traceId, /^[0-9a-f]{32}$/);
        assert.match(s.spanId, /^[0-9a-f]{16}$/);
        assert.equal(s.parentSpanId, undefined, 'a trace the gateway started has a root span');
        assert.match(s.startTimeUnixNano, /^\d{19}$/);
        assert.ok(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano));
        assert.ok(Math.abs(Number(BigInt(s.startTimeUnixNano) / 1_000_000n) - Date.now()) < 60_000, 'epoch nanoseconds');
        assert.equal(s.name, 'GET /api/*');
        assert.equal(attr(s, 'http.request.method'), 'GET');
        assert.equal(attr(s, 'http.route'), '/api/*');
        assert.equal(attr(s, 'http.response.status_code'), '200');
        assert.equal(attr(s, 'server.address'), '127.0.0.1');
        assert.equal(attr(s, 'brisk.route'), 'api');
        assert.equal(attr(s, 'brisk.upstream'), 'app');
        assert.equal(attr(s, 'brisk.target'), backend.url);
        assert.equal(s.status, undefined);
      }
      assert.deepEqual(servers.map((s) => attr(s, 'url.path')).sort(), ['/api/one', '/api/two'], 'no query string in spans');
      // The access line and the span share the trace id.
      assert.ok(servers.every((s) => gw.logs.some((l) => l['type'] === 'access' && l['traceId'] === s.traceId)));
    } finally {
      await gw.stop();
    }
  });

  it('parent-based sampling: an unsampled caller, and ratio 0 for new traces, export nothing', async () => {
    collector.spans.length = 0;
    const gw = await startGateway(simpleConfig([backend.url], { tracing: tracing({ sampleRatio: 0 }) }));
    try {
      const a = (JSON.parse((await get(`${gw.url}/x`)).body) as EchoBody).headers;
      assert.match(a['traceparent'] as string, /-00$/, 'a new trace not sampled says so');
      await get(`${gw.url}/y`, { traceparent: `00-${TID}-${PID}-00` });
      // A sampled caller is followed even at ratio 0.
      await get(`${gw.url}/z`, { traceparent: `00-${TID}-${PID}-01` });
      await collector.waitFor((s) => s.some((x) => x.kind === 2));
      await new Promise((r) => setTimeout(r, 200));
      const servers = collector.spans.filter((s) => s.kind === 2);
      assert.equal(servers.length, 1);
      assert.equal(attr(servers[0]!, 'url.path'), '/z');
      assert.equal(servers[0]!.traceId, TID);
      assert.equal(servers[0]!.parentSpanId, PID);
    } finally {
      await gw.stop();
    }
  });

  it('retries an export the collector refused with 503, and flushes on shutdown', async () => {
    collector.spans.length = 0;
    collector.failNext = [503];
    const gw = await startGateway(simpleConfig([backend.url], { tracing: tracing({ otlp: { endpoint: `${collector.url}/v1/traces`, interval: '1h', batchSize: 100 } }) }));
    await get(`${gw.url}/flush-me`);
    assert.equal(collector.spans.length, 0, 'nothing sent before the interval or a full batch');
    await gw.stop();
    assert.equal(collector.failNext.length, 0, 'the 503 was answered');
    assert.ok(collector.spans.some((s) => attr(s, 'url.path') === '/flush-me'), 'sent on shutdown, after a retry');
  });

  it('HTTP/2 requests over TLS are traced the same way', async (t) => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
    } catch {
      t.skip('openssl is not installed');
      return;
    }
    collector.spans.length = 0;
    const dir = mkdtempSync(join(tmpdir(), 'brisk-h2-trace-'));
    const cert = join(dir, 'c.crt');
    const key = join(dir, 'c.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    const gw = await startGateway(simpleConfig([backend.url], { listen: [{ address: '127.0.0.1:0', tls: { certificates: [{ cert, key }] } }], tracing: tracing() }));
    try {
      const session = http2.connect(`https://localhost:${gw.port}`, { rejectUnauthorized: false });
      const stream = session.request({ ':path': '/h2/path', traceparent: `00-${TID}-${PID}-01` });
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      await once(stream, 'end');
      session.close();
      const seen = (JSON.parse(Buffer.concat(chunks).toString()) as EchoBody).headers;
      assert.match(seen['traceparent'] as string, new RegExp(`^00-${TID}-(?!${PID})[0-9a-f]{16}-01$`));
      await collector.waitFor((s) => s.some((x) => x.kind === 2 && attr(x, 'url.path') === '/h2/path'));
      const server = collector.spans.find((x) => x.kind === 2)!;
      assert.equal(server.traceId, TID);
      assert.equal(server.parentSpanId, PID);
      assert.equal(attr(server, 'url.scheme'), 'https');
      assert.equal(attr(server, 'network.protocol.version'), '2');
      assert.equal(attr(server, 'server.address'), 'localhost');
      assert.equal(attr(server, 'server.port'), String(gw.port));
    } finally {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a reload turns span export on (and off again)', async () => {
    collector.spans.length = 0;
    const gw = await startGateway(simpleConfig([backend.url]));
    try {
      assert.equal(gw.gw.tracingStats, null);
      gw.writeConfig(simpleConfig([backend.url], { tracing: tracing() }));
      assert.equal((await gw.gw.reload()).ok, true);
      await get(`${gw.url}/after-reload`);
      await collector.waitFor((s) => s.some((x) => attr(x, 'url.path') === '/after-reload'));
      gw.writeConfig(simpleConfig([backend.url]));
      assert.equal((await gw.gw.reload()).ok, true);
      assert.equal(gw.gw.tracingStats, null);
    } finally {
      await gw.stop();
    }
  });

  it('a collector that is down costs requests nothing: spans are dropped and counted', async () => {
    const gw = await startGateway(simpleConfig([backend.url], { tracing: { otlp: { endpoint: `http://127.0.0.1:${deadPort}`, interval: '20ms', batchSize: 5, maxQueue: 10, timeout: '200ms' } } }));
    try {
      const started = performance.now();
      const results = await Promise.all(Array.from({ length: 60 }, (_, i) => get(`${gw.url}/down/${i}`)));
      const elapsed = performance.now() - started;
      assert.ok(results.every((r) => r.status === 200));
      assert.ok(elapsed < 3000, `requests took ${elapsed.toFixed(0)} ms`);
      // 60 requests × 2 spans through a 10-span queue that cannot drain.
      const stats = gw.gw.tracingStats!;
      assert.ok(stats.dropped >= 100, JSON.stringify(stats));
      assert.ok(stats.queued <= 10, JSON.stringify(stats));
      assert.equal(stats.exported, 0);
    } finally {
      const t = performance.now();
      await gw.stop();
      assert.ok(performance.now() - t < 5000, 'shutdown does not wait long for a dead collector');
    }
  });
});
