import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent, sampledByRatio, sanitizeTracestate } from './trace-context.js';

const TID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PID = '00f067aa0ba902b7';

describe('traceparent', () => {
  it('parses a valid version 00 value and its sampled flag', () => {
    assert.deepEqual(parseTraceparent(`00-${TID}-${PID}-01`), { traceId: TID, parentId: PID, sampled: true });
    assert.deepEqual(parseTraceparent(`00-${TID}-${PID}-00`), { traceId: TID, parentId: PID, sampled: false });
    // Other flag bits are ignored, only bit 0 is "sampled".
    assert.equal(parseTraceparent(`00-${TID}-${PID}-03`)?.sampled, true);
    assert.equal(parseTraceparent(`00-${TID}-${PID}-02`)?.sampled, false);
  });

  it('refuses malformed version 00 values', () => {
    for (const bad of [
      '',
      `00-${TID}-${PID}-0`,
      `00-${TID}-${PID}-01-`,
      `00-${TID}-${PID}-01-extra`,
      `00-${TID.toUpperCase()}-${PID}-01`,
      `00-${TID}-${PID.toUpperCase()}-01`,
      `00-${'0'.repeat(32)}-${PID}-01`,
      `00-${TID}-${'0'.repeat(16)}-01`,
      `00_${TID}-${PID}-01`,
      `00-${TID}_${PID}-01`,
      `00-${TID}-${PID}_01`,
      `00-${TID.slice(0, 31)}g-${PID}-01`,
      `00-${TID}-${PID}-0g`,
      ` 00-${TID}-${PID}-01`.slice(0, 55),
      `ff-${TID}-${PID}-01`,
      `0g-${TID}-${PID}-01`,
      `AA-${TID}-${PID}-01`,
    ]) {
      assert.equal(parseTraceparent(bad), null, bad);
    }
  });

  it('reads a future version by its first four fields', () => {
    assert.deepEqual(parseTraceparent(`cc-${TID}-${PID}-01`), { traceId: TID, parentId: PID, sampled: true });
    assert.deepEqual(parseTraceparent(`cc-${TID}-${PID}-01-what-the-future-holds`), { traceId: TID, parentId: PID, sampled: true });
    assert.equal(parseTraceparent(`cc-${TID}-${PID}-01x`), null, 'more data must follow a dash');
  });

  it('formats version 00 with the sampled flag', () => {
    assert.equal(formatTraceparent(TID, PID, true), `00-${TID}-${PID}-01`);
    assert.equal(formatTraceparent(TID, PID, false), `00-${TID}-${PID}-00`);
    assert.deepEqual(parseTraceparent(formatTraceparent(TID, PID, true)), { traceId: TID, parentId: PID, sampled: true });
  });
});

describe('tracestate', () => {
  it('passes valid members on, trimmed, empty ones skipped', () => {
    assert.equal(sanitizeTracestate('rojo=00f067aa0ba902b7, congo=t61rcWkgMzE'), 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    assert.equal(sanitizeTracestate('a=1,,b=2 ,'), 'a=1,b=2');
    assert.equal(sanitizeTracestate('tenant1@vendor=x'), 'tenant1@vendor=x');
  });

  it('drops the whole value when a member is malformed or a key repeats', () => {
    assert.equal(sanitizeTracestate('A=1'), null);
    assert.equal(sanitizeTracestate('a=1,a=2'), null);
    assert.equal(sanitizeTracestate('a'), null);
    assert.equal(sanitizeTracestate('a=x=y'), null);
    assert.equal(sanitizeTracestate('a=1 ,b=2,c'), null);
    assert.equal(sanitizeTracestate(''), null);
  });

  it('refuses more than 32 members', () => {
    const members = Array.from({ length: 33 }, (_, i) => `k${i}=v`);
    assert.equal(sanitizeTracestate(members.join(',')), null);
    assert.equal(sanitizeTracestate(members.slice(0, 32).join(',')), members.slice(0, 32).join(','));
  });

  it('truncates past 512 characters: long members first, then from the end', () => {
    const long = `big=${'x'.repeat(200)}`;
    const small = Array.from({ length: 30 }, (_, i) => `k${String(i).padStart(2, '0')}=${'v'.repeat(10)}`);
    const out = sanitizeTracestate([long, ...small].join(','))!;
    assert.ok(out.length <= 512, `${out.length}`);
    assert.ok(!out.includes('big='), 'the long member went first');
    assert.ok(out.startsWith('k00='), 'members are dropped from the end');
  });
});

describe('ids', () => {
  it('are lower-case hex of the right length, non-zero and distinct', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const t = newTraceId();
      const s = newSpanId();
      assert.match(t, /^[0-9a-f]{32}$/);
      assert.match(s, /^[0-9a-f]{16}$/);
      assert.ok(!seen.has(t) && !seen.has(s));
      seen.add(t).add(s);
    }
  });

  it('ratio sampling keeps about the ratio and is all-or-nothing at the ends', () => {
    let kept = 0;
    for (let i = 0; i < 10000; i++) if (sampledByRatio(newTraceId(), 0.25)) kept++;
    assert.ok(kept > 2200 && kept < 2800, `${kept}`);
    assert.equal(sampledByRatio(TID, 1), true);
    assert.equal(sampledByRatio(TID, 0), false);
  });
});

describe('fillHeaderSlot', () => {
  it('writes the planned slot, finds it again after a shift, or adds it', async () => {
    const { fillHeaderSlot } = await import('./trace-context.js');
    const h = ['a', '1', 'x-user', 'spoofed', 'traceparent', '', 'b', '2'];
    assert.equal(fillHeaderSlot(h, 5, 'traceparent', 'v1'), 5);
    assert.deepEqual(h, ['a', '1', 'x-user', 'spoofed', 'traceparent', 'v1', 'b', '2']);
    h.splice(2, 2); // a middleware removed x-user: positions shifted
    assert.equal(fillHeaderSlot(h, 5, 'traceparent', 'v2'), 3);
    assert.deepEqual(h, ['a', '1', 'traceparent', 'v2', 'b', '2']);
    h.splice(2, 2);
    assert.equal(fillHeaderSlot(h, 3, 'traceparent', 'v3'), 5);
    assert.deepEqual(h, ['a', '1', 'b', '2', 'traceparent', 'v3']);
  });
});
