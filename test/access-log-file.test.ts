import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { Agent, request } from 'undici';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBackend, type Backend } from './helpers/backend.js';
import { simpleConfig, startGateway } from './helpers/gateway.js';

/** Every access line in the file and its rotated siblings, parsed (each must be whole JSON). */
function readLines(dir: string, base = 'access.log'): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const f of readdirSync(dir).filter((n) => n.startsWith(base))) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) if (line !== '') out.push(JSON.parse(line) as Record<string, unknown>);
  }
  return out;
}

/** `n` requests, `concurrency` at a time, on keep-alive connections. */
async function load(url: string, n: number, concurrency: number, path: (i: number) => string): Promise<number[]> {
  const dispatcher = new Agent({ connections: concurrency });
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const res = await request(`${url}${path(i)}`, { dispatcher });
        await res.body.dump();
        statuses.push(res.statusCode);
      }
    }),
  );
  await dispatcher.close();
  return statuses;
}

describe('access log to a file', () => {
  let backend: Backend;
  let dir: string;
  before(async () => {
    backend = await startBackend();
    dir = mkdtempSync(join(tmpdir(), 'brisk-access-'));
  });
  after(async () => {
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rotates at the size limit without losing a line under concurrent load', async () => {
    const sub = mkdtempSync(join(dir, 'rot-'));
    const file = join(sub, 'access.log');
    const gw = await startGateway(simpleConfig([backend.url], { logging: { accessLog: { file, rotate: { maxSize: '8kb', maxFiles: 1000 } } } }));
    const n = 400;
    try {
      const statuses = await load(gw.url, n, 16, (i) => `/req/${i}`);
      assert.equal(statuses.filter((s) => s === 200).length, n);
    } finally {
      await gw.stop();
    }
    const lines = readLines(sub);
    const paths = new Set(lines.map((l) => l['path']));
    assert.equal(lines.length, n, 'one line per request');
    assert.equal(paths.size, n, 'each request exactly once');
    const files = readdirSync(sub);
    assert.ok(files.length >= 5, `rotated into ${files.length} files`);
    assert.ok(files.includes('access.log.1'));
    assert.equal(gw.logs.filter((l) => l['type'] === 'access').length, 0, 'not also on stdout');
  });

  it('keeps maxFiles rotated files and drops older ones', async () => {
    const sub = mkdtempSync(join(dir, 'keep-'));
    const file = join(sub, 'access.log');
    const gw = await startGateway(simpleConfig([backend.url], { logging: { accessLog: { file, rotate: { maxSize: '1kb', maxFiles: 3 } } } }));
    try {
      await load(gw.url, 100, 4, (i) => `/k/${i}`);
    } finally {
      await gw.stop();
    }
    assert.deepEqual(readdirSync(sub).sort(), ['access.log', 'access.log.1', 'access.log.2', 'access.log.3']);
    // The newest lines are in the current file and .1; the oldest are gone.
    const kept = readLines(sub).map((l) => Number(String(l['path']).split('/')[2]));
    assert.ok(kept.includes(99) && !kept.includes(0), `kept ${kept.length} lines`);
  });

  it('reopens the file after an external logrotate moved it (SIGUSR1)', async () => {
    const sub = mkdtempSync(join(dir, 'reopen-'));
    const file = join(sub, 'access.log');
    const gw = await startGateway(simpleConfig([backend.url], { logging: { accessLog: { file } } }));
    try {
      await load(gw.url, 20, 4, (i) => `/before/${i}`);
      await new Promise((r) => setTimeout(r, 1200)); // periodic flush
      renameSync(file, `${file}.moved`);
      gw.gw.reopenLogs();
      await load(gw.url, 20, 4, (i) => `/after/${i}`);
    } finally {
      await gw.stop();
    }
    assert.ok(existsSync(file), 'a new file was opened');
    const after = readLines(sub, 'access.log').filter((l) => String(l['path']).startsWith('/after/'));
    const moved = readFileSync(`${file}.moved`, 'utf8').trim().split('\n');
    assert.equal(moved.length, 20);
    assert.ok(moved.every((l) => l.includes('/before/')));
    assert.equal(after.length, 20);
  });

  it('samples successes and keeps every error', async () => {
    const sub = mkdtempSync(join(dir, 'sample-'));
    const file = join(sub, 'access.log');
    const gw = await startGateway(
      simpleConfig([backend.url], {
        routes: [{ name: 'ok', match: { pathPrefix: '/ok' }, upstream: 'app' }],
        logging: { accessLog: { file, sample: { successes: 0.1 } } },
      }),
    );
    try {
      const statuses = await load(gw.url, 1000, 8, (i) => (i % 10 === 0 ? `/missing/${i}` : `/ok/${i}`));
      assert.equal(statuses.filter((s) => s === 404).length, 100);
    } finally {
      await gw.stop();
    }
    const lines = readLines(sub);
    const errors = lines.filter((l) => l['status'] === 404);
    const ok = lines.filter((l) => l['status'] === 200);
    assert.equal(errors.length, 100, 'every 404 (BRISK_ROUTE_NOT_FOUND) is logged');
    assert.ok(errors.every((l) => l['error'] === 'BRISK_ROUTE_NOT_FOUND'));
    // 900 successes at 10 %: 90 expected, σ ≈ 9.
    assert.ok(ok.length >= 55 && ok.length <= 130, `${ok.length} successes logged`);
  });

  it('a reload moves the access log from stdout to a file', async () => {
    const sub = mkdtempSync(join(dir, 'reload-'));
    const file = join(sub, 'access.log');
    const gw = await startGateway(simpleConfig([backend.url]));
    try {
      await load(gw.url, 3, 1, (i) => `/stdout/${i}`);
      gw.writeConfig(simpleConfig([backend.url], { logging: { accessLog: { file } } }));
      assert.equal((await gw.gw.reload()).ok, true);
      await load(gw.url, 5, 1, (i) => `/file/${i}`);
    } finally {
      await gw.stop();
    }
    assert.equal(gw.logs.filter((l) => l['type'] === 'access').length, 3);
    assert.deepEqual(
      readLines(sub).map((l) => l['path']),
      [0, 1, 2, 3, 4].map((i) => `/file/${i}`),
    );
  });

  it('`accessLog: true` still logs to stdout, `false` logs nothing', async () => {
    const on = await startGateway(simpleConfig([backend.url], { logging: { accessLog: true } }));
    const off = await startGateway(simpleConfig([backend.url], { logging: { accessLog: false } }));
    try {
      await fetch(`${on.url}/x`).then((r) => r.arrayBuffer());
      await fetch(`${off.url}/x`).then((r) => r.arrayBuffer());
      assert.equal(on.logs.filter((l) => l['type'] === 'access').length, 1);
      assert.equal(off.logs.filter((l) => l['type'] === 'access').length, 0);
    } finally {
      await on.stop();
      await off.stop();
    }
  });
});
