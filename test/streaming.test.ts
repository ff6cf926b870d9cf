/**
 * Streaming through the gateway: bodies far larger than memory, chunked framing, trailers,
 * 100-continue, server-sent events, long polls and slow clients.
 *
 * The gateway runs as a child process (`brisk start`), so its memory can be read from
 * /proc without the test's own clients and backends in the same heap.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startBackend, type Backend } from './helpers/backend.js';
import { freePort, isListening } from './helpers/free-port.js';

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** The gateway child process. */
interface ChildGateway {
  readonly port: number;
  readonly pid: number;
  /** Resident memory now, in bytes (VmRSS). */
  rss(): number;
  stop(): Promise<void>;
}

async function startChildGateway(config: object): Promise<ChildGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'brisk-stream-'));
  const file = join(dir, 'brisk.yaml');
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const adminPort = await freePort();
    writeFileSync(file, JSON.stringify({ ...config, listen: [{ address: `127.0.0.1:${port}` }], admin: { address: `127.0.0.1:${adminPort}` }, logging: { level: 'warn', format: 'json' } }));
    const child: ChildProcess = spawn(process.execPath, [CLI, 'start', '--config', file, '--no-watch'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = once(child, 'exit');
    const deadline = Date.now() + 15_000;
    let up = false;
    while (Date.now() < deadline && child.exitCode === null) {
      if (await isListening(port)) {
        up = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!up) {
      child.kill('SIGKILL');
      await exited;
      // Another process took the port between freePort() and the bind: try again.
      if (attempt < 2 && /BRISK_LISTEN_FAILED/.test(stderr)) continue;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`the gateway did not start: ${stderr}`);
    }
    return {
      port,
      pid: child.pid!,
      rss() {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
      },
      async stop() {
        if (child.exitCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}

/** Samples the gateway's RSS every 50 ms until stopped; returns the peak growth over the baseline. */
function watchMemory(gw: ChildGateway): { stop(): number } {
  const baseline = gw.rss();
  let peak = baseline;
  const timer = setInterval(() => {
    peak = Math.max(peak, gw.rss());
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, gw.rss());
      return peak - baseline;
    },
  };
}

/** `total` bytes produced on the fly, `chunk` at a time; the same buffer is reused, nothing is kept. */
function generated(total: number, chunkSize = 64 * 1024): Readable {
  const chunk = Buffer.alloc(chunkSize, 0x61);
  let left = total;
  return new Readable({
    highWaterMark: chunkSize,
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, chunkSize);
      left -= n;
      this.push(n === chunkSize ? chunk : chunk.subarray(0, n));
    },
  });
}

/** Writes `total` bytes to a response, honouring backpressure; counts how often write() said "wait". */
async function writeGenerated(res: http.ServerResponse, total: number, stats?: { written: number; pushedBack: number }, chunkSize = 64 * 1024): Promise<void> {
  const chunk = Buffer.alloc(chunkSize, 0x62);
  let left = total;
  while (left > 0 && !res.destroyed) {
    const n = Math.min(left, chunkSize);
    left -= n;
    const ok = res.write(n === chunkSize ? chunk : chunk.subarray(0, n));
    if (stats) stats.written += n;
    if (!ok) {
      if (stats) stats.pushedBack++;
      await drainOrClose(res);
    }
  }
  res.end();
}

function drainOrClose(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

interface Reply {
  res: IncomingMessage;
  status: number;
  body: string;
}

/** A request through node:http with its body piped from `body` (when given). */
function send(port: number, options: http.RequestOptions, body?: Readable | Buffer | string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, agent: false, ...options }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ res, status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
}

/** Counts the body bytes of a request. */
async function countBody(req: IncomingMessage): Promise<number> {
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) n += c.length;
  return n;
}

describe('streaming through the gateway', () => {
  let backend: Backend;
  let gw: ChildGateway;
  /** Per-path hooks the backend calls, set by each test. */
  const handlers = new Map<string, (req: IncomingMessage, res: http.ServerResponse) => void | Promise<void>>();

  before(async () => {
    backend = await startBackend(async (req, res) => {
      const path = (req.url ?? '/').split('?')[0]!;
      const handler = handlers.get(path);
      if (handler === undefined) {
        res.writeHead(404).end(`no handler for ${path}`);
        return;
      }
      await handler(req, res);
    });
    gw = await startChildGateway({
      upstreams: { app: { targets: [{ url: backend.url }] } },
      routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'app' }],
    });
  });
  after(async () => {
    await gw?.stop();
    await backend?.close();
  });

  it('uploads 1 GiB through the gateway with flat memory', async () => {
    handlers.set('/upload', async (req, res) => {
      const n = await countBody(req);
      res.writeHead(200, { 'content-type': 'text/plain' }).end(String(n));
    });
    const memory = watchMemory(gw);
    const reply = await send(gw.port, { method: 'POST', path: '/upload', headers: { 'content-length': String(GiB) } }, generated(GiB, 256 * 1024));
    const growth = memory.stop();
    assert.equal(reply.status, 200);
    assert.equal(Number(reply.body), GiB);
    assert.ok(growth < 100 * MiB, `the gateway grew by ${Math.round(growth / MiB)} MiB during a 1 GiB upload`);
  });

  it('downloads 1 GiB through the gateway with flat memory', async () => {
    handlers.set('/download', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(GiB) });
      return writeGenerated(res, GiB, undefined, 256 * 1024);
    });
    const memory = watchMemory(gw);
    const bytes = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: gw.port, path: '/download', agent: false }, (res) => {
          assert.equal(res.statusCode, 200);
          assert.equal(res.headers['content-length'], String(GiB));
          let n = 0;
          res.on('data', (c: Buffer) => (n += c.length));
          res.on('end', () => resolve(n));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    const growth = memory.stop();
    assert.equal(bytes, GiB);
    assert.ok(growth < 100 * MiB, `the gateway grew by ${Math.round(growth / MiB)} MiB during a 1 GiB download`);
  });

  it('passes a chunked request body and a chunked response (no Content-Length either way)', async () => {
    let seen: { te?: string | undefined; cl?: string | undefined; bytes: number } | null = null;
    handlers.set('/chunked', async (req, res) => {
      seen = { te: req.headers['transfer-encoding'], cl: req.headers['content-length'], bytes: await countBody(req) };
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < 5; i++) res.write(`piece ${i};`);
      res.end();
    });
    // A Readable piped into a request with no Content-Length: node sends it chunked.
    const reply = await send(gw.port, { method: 'POST', path: '/chunked' }, generated(3 * MiB + 17, 100_000));
    assert.equal(reply.status, 200);
    assert.deepEqual(seen, { te: 'chunked', cl: undefined, bytes: 3 * MiB + 17 });
    assert.equal(reply.res.headers['transfer-encoding'], 'chunked');
    assert.equal(reply.res.headers['content-length'], undefined);
    assert.equal(reply.body, 'piece 0;piece 1;piece 2;piece 3;piece 4;');
  });

  it('passes response trailers to an HTTP/1.1 client that sent TE: trailers', async () => {
    let te: string | string[] | undefined;
    handlers.set('/trailers', (req, res) => {
      te = req.headers['te'];
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
      res.write('body, ');
      res.write('then trailers');
      res.addTrailers({ 'x-checksum': 'sha256-abc' });
      res.end();
    });
    const reply = await send(gw.port, { path: '/trailers', headers: { te: 'trailers', connection: 'te' } });
    assert.equal(reply.status, 200);
    assert.equal(te, 'trailers', 'TE: trailers is forwarded to the target');
    assert.equal(reply.body, 'body, then trailers');
    assert.equal(reply.res.headers['trailer'], 'x-checksum');
    assert.deepEqual(reply.res.trailers, { 'x-checksum': 'sha256-abc' });
  });

  it('handles Expect: 100-continue: the client gets 100, then sends its body', async () => {
    let backendSawExpect: string | string[] | undefined = 'unset';
    handlers.set('/continue', async (req, res) => {
      backendSawExpect = req.headers['expect'];
      res.writeHead(200).end(String(await countBody(req)));
    });
    const body = Buffer.alloc(2 * MiB, 0x63);
    const result = await new Promise<{ status: number; text: string; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = http.request({ host: '127.0.0.1', port: gw.port, method: 'PUT', path: '/continue', agent: false, headers: { expect: '100-continue', 'content-length': String(body.length) } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, continued }));
      });
      req.on('error', reject);
      // Nothing is sent before the 100: the body waits for it.
      req.on('continue', () => {
        continued = true;
        req.end(body);
      });
      req.flushHeaders();
    });
    assert.equal(result.continued, true);
    assert.equal(result.status, 200);
    assert.equal(Number(result.text), body.length);
    assert.equal(backendSawExpect, undefined, 'the gateway answered the Expect itself');
  });

  it('delivers server-sent events as they are written, on a connection that stays open', async () => {
    const written: number[] = [];
    let backendClosed!: () => void;
    const backendSawClose = new Promise<void>((resolve) => (backendClosed = resolve));
    handlers.set('/events', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      let i = 0;
      const timer = setInterval(() => {
        written.push(performance.now());
        res.write(`id: ${i}\ndata: event ${i}\n\n`);
        i++;
      }, 100);
      res.on('close', () => {
        clearInterval(timer);
        backendClosed();
      });
    });
    const events = 12;
    const arrivals: number[] = [];
    const req = http.get({ host: '127.0.0.1', port: gw.port, path: '/events', agent: false });
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'text/event-stream');
    let buffered = '';
    await new Promise<void>((resolve) => {
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buffered += c;
        let end: number;
        while ((end = buffered.indexOf('\n\n')) !== -1) {
          arrivals.push(performance.now());
          buffered = buffered.slice(end + 2);
          if (arrivals.length === events) resolve();
        }
      });
    });
    const delays = arrivals.map((t, i) => t - written[i]!);
    // Delivery within ~50 ms each: the gateway buffers nothing. One outlier is tolerated on a
    // shared two-core machine, the median must be far below.
    const sorted = [...delays].sort((a, b) => a - b);
    assert.ok(sorted[Math.floor(sorted.length / 2)]! < 20, `median delay ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms (${delays.map((d) => d.toFixed(1)).join(', ')})`);
    assert.ok(sorted.filter((d) => d > 50).length <= 1, `events later than 50 ms: ${delays.map((d) => d.toFixed(1)).join(', ')}`);
    // Still open: more events keep coming.
    assert.equal(res.complete, false);
    await once(res, 'data');
    req.destroy();
    await backendSawClose;
  });

  it('sends the response head as soon as the backend does, before any body (an event stream opening)', async () => {
    let release!: () => void;
    const firstEvent = new Promise<void>((resolve) => (release = resolve));
    handlers.set('/quiet', async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      await firstEvent;
      res.end('data: late\n\n');
    });
    const started = performance.now();
    const req = http.get({ host: '127.0.0.1', port: gw.port, path: '/quiet', agent: false });
    try {
      const [res] = (await Promise.race([once(req, 'response'), new Promise((_, reject) => setTimeout(() => reject(new Error('no response head within 1 s')), 1000))])) as [IncomingMessage];
      const headAfter = performance.now() - started;
      assert.equal(res.statusCode, 200);
      assert.ok(headAfter < 500, `the head arrived after ${headAfter.toFixed(0)} ms`);
      release();
      let body = '';
      for await (const c of res) body += String(c);
      assert.equal(body, 'data: late\n\n');
    } finally {
      release();
      req.destroy();
    }
  });

  it('waits for a long poll that answers after 2 s', async () => {
    handlers.set('/poll', async (_req, res) => {
      await new Promise((r) => setTimeout(r, 2000));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"news":true}');
    });
    const started = performance.now();
    const reply = await send(gw.port, { path: '/poll' });
    const elapsed = performance.now() - started;
    assert.equal(reply.status, 200);
    assert.equal(reply.body, '{"news":true}');
    assert.ok(elapsed >= 1990, `answered after ${elapsed} ms`);
  });

  it('pushes back on the backend when the client reads slowly, instead of buffering in the gateway', async () => {
    const total = 160 * MiB;
    const stats = { written: 0, pushedBack: 0 };
    let done!: Promise<void>;
    handlers.set('/slow', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
      done = writeGenerated(res, total, stats, 256 * 1024);
      return done;
    });
    const memory = watchMemory(gw);
    const req = http.get({ host: '127.0.0.1', port: gw.port, path: '/slow', agent: false });
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    // Read nothing: only socket buffers and the gateway's stream buffers can take the data.
    res.pause();
    let last = -1;
    for (let stable = 0; stable < 4; ) {
      await new Promise((r) => setTimeout(r, 100));
      stable = stats.written === last ? stable + 1 : 0;
      last = stats.written;
    }
    const stalledAt = stats.written;
    assert.ok(stats.pushedBack > 0, "the backend's res.write() returned false");
    assert.ok(stalledAt < 64 * MiB, `the backend could write only what buffers hold (${Math.round(stalledAt / MiB)} MiB of ${total / MiB} MiB)`);
    assert.ok(memory.stop() < 48 * MiB, 'the gateway did not buffer the stalled response');

    // Then read slowly, a bit at a time, and finally everything: it all arrives.
    let received = 0;
    res.on('data', (c: Buffer) => (received += c.length));
    for (let i = 0; i < 5; i++) {
      res.resume();
      await new Promise((r) => setTimeout(r, 20));
      res.pause();
      await new Promise((r) => setTimeout(r, 50));
    }
    res.resume();
    await once(res, 'end');
    await done;
    assert.equal(received, total);
    assert.ok(stats.pushedBack > 1);
  });

  it('keeps the gateway alive and answering after all of it', async () => {
    handlers.set('/ping', (_req, res) => void res.end('pong'));
    const reply = await send(gw.port, { path: '/ping' });
    assert.equal(reply.body, 'pong');
  });
});
