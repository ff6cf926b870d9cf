import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { AccessLog, formatMillis } from './access-log.js';

function capture(): { lines: string[]; dest: { write(s: string): boolean } } {
  const lines: string[] = [];
  // The access log hands over a turn's lines as one chunk: split it back into lines.
  return { lines, dest: { write: (s: string) => (lines.push(...s.split(/(?<=\n)/)), true) } };
}

test('JSON lines are valid JSON with the pino shape and every field', () => {
  const { lines, dest } = capture();
  const log = new AccessLog(pino({ level: 'silent' }), dest);
  log.write('id-1', 'GET', '/a?b=1', 'r', 'u', 'http://127.0.0.1:1', 200, 1.5, 42, '127.0.0.1', 2, true, null);
  log.write(undefined, 'POST', '/x"y\\z\n\u00e9', undefined, undefined, undefined, 404, 0.1, 0, undefined, 1, false, 'BRISK_ROUTE_NOT_FOUND');
  assert.equal(lines.length, 0, 'held until the end of the turn');
  log.flush();
  assert.equal(lines.length, 2);
  assert.ok(lines.every((l) => l.endsWith('}\n')));
  const a = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(a['level'], 'info');
  assert.equal(typeof a['time'], 'string');
  assert.ok(!Number.isNaN(Date.parse(a['time'] as string)));
  assert.equal(a['pid'], process.pid);
  assert.deepEqual(
    { ...a, time: undefined, pid: undefined, level: undefined },
    { time: undefined, pid: undefined, level: undefined, type: 'access', requestId: 'id-1', method: 'GET', path: '/a?b=1', route: 'r', upstream: 'u', target: 'http://127.0.0.1:1', status: 200, durationMs: 1.5, bytesOut: 42, remote: '127.0.0.1', attempts: 2, hedged: true },
  );
  const b = JSON.parse(lines[1]!) as Record<string, unknown>;
  assert.equal(b['path'], '/x"y\\z\n\u00e9', 'a hostile path is escaped, not breaking the line');
  assert.equal(b['error'], 'BRISK_ROUTE_NOT_FOUND');
  assert.equal(b['attempts'], undefined);
});

test('without a raw destination the line goes through the logger', () => {
  const { lines, dest } = capture();
  const logger = pino({ level: 'info' }, dest as never);
  new AccessLog(logger, null).write('id', 'GET', '/', 'r', 'u', 't', 200, 1, 1, '::1', 1, false, null);
  const line = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(line['type'], 'access');
  assert.equal(line['requestId'], 'id');
});

test('lines reach the destination in one write, within 100 ms or at the chunk size', async () => {
  const chunks: string[] = [];
  const log = new AccessLog(pino({ level: 'silent' }), { write: (s: string) => (chunks.push(s), true) });
  for (let i = 0; i < 5; i++) log.write(`id-${i}`, 'GET', '/', 'r', 'u', 't', 200, 1, 1, '::1', 1, false, null);
  await new Promise((r) => setImmediate(r));
  assert.equal(chunks.length, 0, 'not one write per turn');
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(chunks.length, 1);
  const small = new AccessLog(pino({ level: 'silent' }), { write: (s: string) => (chunks.push(s), true) }, { chunkBytes: 1024 });
  for (let i = 0; i < 20; i++) small.write(`id-${i}`, 'GET', '/', 'r', 'u', 't', 200, 1, 1, '::1', 1, false, null);
  assert.ok(chunks.length >= 3, 'a full chunk is written at once');
  small.flush();
  chunks.length = 1;
  assert.deepEqual(chunks[0]!.trim().split('\n').map((l) => (JSON.parse(l) as { requestId: string }).requestId), ['id-0', 'id-1', 'id-2', 'id-3', 'id-4']);
});

test('sampling keeps every error and about the ratio of successes', () => {
  const { lines, dest } = capture();
  const log = new AccessLog(pino({ level: 'silent' }), dest, { sampleSuccesses: 0.2 });
  for (let i = 0; i < 5000; i++) log.write('id', 'GET', '/', 'r', 'u', 't', 200, 1, 1, '::1', 1, false, null);
  for (let i = 0; i < 100; i++) log.write('id', 'GET', '/', 'r', 'u', 't', 404, 1, 1, '::1', 1, false, null);
  for (let i = 0; i < 100; i++) log.write('id', 'GET', '/', 'r', 'u', 't', 502, 1, 1, '::1', 1, false, 'BRISK_UPSTREAM_RESET');
  for (let i = 0; i < 100; i++) log.write('id', 'GET', '/', 'r', 'u', 't', 200, 1, 1, '::1', 1, false, 'BRISK_INTERNAL');
  log.flush();
  const parsed = lines.map((l) => JSON.parse(l) as { status: number; error?: string });
  const ok = parsed.filter((l) => l.status === 200 && l.error === undefined).length;
  assert.equal(parsed.filter((l) => l.status === 404).length, 100);
  assert.equal(parsed.filter((l) => l.status === 502).length, 100);
  assert.equal(parsed.filter((l) => l.error === 'BRISK_INTERNAL').length, 100, 'a Brisk error code is kept whatever the status');
  assert.ok(ok > 850 && ok < 1150, `${ok} of 5000 successes at 20 %`);
});

test('formatMillis writes a microsecond-rounded duration exactly as String() does', () => {
  for (let micros = 0; micros < 300_000; micros++) {
    const ms = micros / 1000;
    assert.equal(formatMillis(ms), String(ms));
  }
  for (let i = 0; i < 10_000; i++) {
    const ms = Math.round(Math.random() * 3_600_000 * 1000) / 1000;
    assert.equal(formatMillis(ms), String(ms));
  }
  // Values that are not microsecond-rounded, or out of range, take the generic path.
  for (const ms of [0.0005, 1.0001, -1, 1e12, Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(formatMillis(ms), String(ms));
});

test('the time field is the ISO time of the write, milliseconds included', () => {
  const { lines, dest } = capture();
  const log = new AccessLog(pino({ level: 'silent' }), dest);
  const before = Date.now();
  for (let i = 0; i < 50; i++) log.write('id', 'GET', '/', 'r', 'u', undefined, 200, 1, 0, undefined, 1, false, null);
  const after = Date.now();
  log.flush();
  for (const l of lines) {
    const time = (JSON.parse(l) as { time: string }).time;
    assert.match(time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const t = Date.parse(time);
    assert.ok(t >= before && t <= after, `${time} outside [${before}, ${after}]`);
    assert.equal(new Date(t).toISOString(), time);
  }
});

test('a line longer than the chunk buffer and non-ASCII paths keep their order and bytes', () => {
  const chunks: string[] = [];
  const log = new AccessLog(pino({ level: 'silent' }), { write: (s: string) => (chunks.push(s), true) }, { chunkBytes: 1024 });
  const huge = `/h${'é'.repeat(12_000)}`;
  log.write('id-0', 'GET', '/a\u00e9\u4e2d', 'r', 'u', 't', 200, 1, 1, '::1', 1, false, null);
  log.write('id-1', 'GET', huge, 'r', 'u', 't', 200, 1, 1, '::1', 1, false, null);
  log.write('id-2', 'GET', '/b', 'r', 'u', 't', 200, 1, 1, '::1', 1, false, null);
  log.flush();
  const lines = chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as { requestId: string; path: string });
  assert.deepEqual(
    lines.map((l) => l.requestId),
    ['id-0', 'id-1', 'id-2'],
  );
  assert.equal(lines[0]!.path, '/a\u00e9\u4e2d');
  assert.equal(lines[1]!.path, huge);
});
