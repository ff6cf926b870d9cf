import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RequestContext } from '../../core/middleware.js';
import { createSheddingMiddleware, EventLoopLagMonitor, LoadShedder, type LagSource, type ShedLevelChange } from './load-shedder.js';
import type { OverloadConfig } from './schema.js';
import { Priority } from './priority.js';
import { ManualScheduler } from './scheduler.js';

class FakeLag implements LagSource {
  lag = 0;
  started = 0;
  stopped = 0;
  start(): void {
    this.started++;
  }
  stop(): void {
    this.stopped++;
  }
  sample(): number {
    return this.lag;
  }
}

const config: OverloadConfig = { eventLoopLagMs: 50, criticalEventLoopLagMs: 500, queueWaitMs: 0, holdMs: 1000, priorityHeader: null, retryAfterS: 1 };

function setup(over: Partial<OverloadConfig> = {}) {
  const s = new ManualScheduler(0);
  const lag = new FakeLag();
  const changes: ShedLevelChange[] = [];
  const shedder = new LoadShedder({ ...config, ...over }, { lagSource: lag, scheduler: s, onLevelChange: (c) => changes.push(c) });
  shedder.start();
  return { s, lag, shedder, changes };
}

/** Which priorities are shed now, as a string like 'low,normal'. */
function shedSet(shedder: LoadShedder): string {
  const out: string[] = [];
  if (shedder.shouldShed(Priority.Low)) out.push('low');
  if (shedder.shouldShed(Priority.Normal)) out.push('normal');
  if (shedder.shouldShed(Priority.Critical)) out.push('critical');
  return out.join(',');
}

describe('LoadShedder', () => {
  it('sheds nothing while the loop is fine', () => {
    const { s, lag, shedder } = setup();
    lag.lag = 10;
    s.advance(2000);
    assert.equal(shedSet(shedder), '');
    assert.equal(shedder.stats().lagMs, 10);
  });

  it('sheds low first as soon as lag passes the threshold, then normal if that was not enough after hold — never critical', () => {
    const { s, lag, shedder, changes } = setup();
    s.advance(500);
    lag.lag = 60;
    s.advance(100);
    assert.equal(shedSet(shedder), 'low');
    assert.equal(changes.length, 1);
    assert.match(changes[0]!.reason, /event-loop lag p99 60ms ≥ 50ms: shedding low-priority requests/);
    s.advance(900);
    assert.equal(shedSet(shedder), 'low', 'held for a second before escalating');
    s.advance(100);
    assert.equal(shedSet(shedder), 'low,normal');
    assert.match(changes[1]!.reason, /despite shedding low: shedding normal-priority requests too/);
    lag.lag = 400;
    s.advance(5000);
    assert.equal(shedSet(shedder), 'low,normal', 'critical passes below criticalEventLoopLag');
  });

  it('sheds critical requests only past the critical threshold, and stops as soon as lag is below it', () => {
    const { s, lag, shedder, changes } = setup();
    lag.lag = 600;
    s.advance(100);
    assert.equal(shedSet(shedder), 'low,normal,critical');
    assert.equal(changes[0]!.to, 3);
    lag.lag = 200;
    s.advance(100);
    assert.equal(shedSet(shedder), 'low,normal', 'one sample later');
  });

  it('steps down one level per hold once lag is below half the threshold (hysteresis)', () => {
    const { s, lag, shedder } = setup();
    lag.lag = 80;
    s.advance(1100);
    assert.equal(shedder.level, 2);
    lag.lag = 30; // below the threshold but above half of it: keep shedding
    s.advance(3000);
    assert.equal(shedder.level, 2);
    lag.lag = 10;
    s.advance(100);
    assert.equal(shedder.level, 1, 'the level was held long enough: one step down');
    s.advance(900);
    assert.equal(shedder.level, 1);
    s.advance(100);
    assert.equal(shedder.level, 0);
    assert.equal(shedSet(shedder), '');
  });

  it('uses the mean route queue wait over the last second when configured', () => {
    const { s, shedder } = setup({ queueWaitMs: 20 });
    for (let i = 0; i < 10; i++) shedder.observeQueueWait(30);
    s.advance(100);
    assert.equal(shedder.level, 1);
    assert.equal(shedder.stats().queueWaitMs, 30);
    assert.match(JSON.stringify(shedder.stats()), /"shedding":"low"/);
    // The waits slide out of the one-second window.
    s.advance(1000);
    assert.equal(shedder.stats().queueWaitMs, 0);
  });

  it('ignores queue wait unless configured', () => {
    const { s, shedder } = setup();
    for (let i = 0; i < 10; i++) shedder.observeQueueWait(1000);
    s.advance(100);
    assert.equal(shedder.level, 0);
  });

  it('counts shed requests by priority and answers with a prebuilt 503 BRISK_SHED', () => {
    const { s, lag, shedder } = setup({ retryAfterS: 3 });
    lag.lag = 70;
    s.advance(100);
    const a = shedder.check(Priority.Low);
    assert.ok(a !== null);
    assert.equal(a.status, 503);
    assert.equal(a.code, 'BRISK_SHED');
    assert.deepEqual(a.headers, ['retry-after', '3']);
    assert.match(a.message!, /overloaded and sheds low-priority requests/);
    assert.equal(shedder.check(Priority.Low), a, 'the same object every time: nothing allocated');
    assert.equal(shedder.check(Priority.Normal), null);
    assert.deepEqual(shedder.stats().shed, { low: 2, normal: 0, critical: 0 });
  });

  it('stop() ends shedding and sampling; start() and stop() are idempotent', () => {
    const { s, lag, shedder } = setup();
    shedder.start();
    assert.equal(lag.started, 1);
    lag.lag = 70;
    s.advance(100);
    assert.equal(shedder.level, 1);
    shedder.stop();
    shedder.stop();
    assert.equal(lag.stopped, 1);
    assert.equal(shedder.level, 0);
    assert.equal(s.pending, 0, 'no timer left');
    assert.equal(shedder.stats().running, false);
  });

  it('lag-based shedding can be turned off (eventLoopLag 0)', () => {
    const { s, lag, shedder } = setup({ eventLoopLagMs: 0 });
    lag.lag = 400;
    s.advance(3000);
    assert.equal(shedder.level, 0);
    lag.lag = 600;
    s.advance(100);
    assert.equal(shedder.level, 3, 'the critical threshold still applies');
  });

  it('the middleware refuses synchronously by route priority, or by the header when configured', () => {
    const { s, lag, shedder } = setup({ priorityHeader: 'x-brisk-priority' });
    const plain = new LoadShedder(config, { lagSource: lag, scheduler: s });
    plain.start();
    lag.lag = 70;
    s.advance(100);
    const ctx = (rawHeaders: string[]) => ({ rawHeaders }) as unknown as RequestContext;
    const low = createSheddingMiddleware(shedder, { priority: 'low' });
    const normal = createSheddingMiddleware(shedder, { priority: 'normal' });
    assert.equal((low.handle(ctx([])) as { code: string }).code, 'BRISK_SHED');
    assert.equal(normal.handle(ctx([])), null);
    assert.equal(low.handle(ctx(['X-Brisk-Priority', 'critical'])), null, 'header honoured');
    assert.equal((normal.handle(ctx(['x-brisk-priority', 'low'])) as { code: string }).code, 'BRISK_SHED');
    const ignoring = createSheddingMiddleware(plain, { priority: 'low' });
    assert.notEqual(ignoring.handle(ctx(['x-brisk-priority', 'critical'])), null, 'header ignored when not configured');
    plain.stop();
  });
});

describe('EventLoopLagMonitor', () => {
  it('reports a blocked event loop as lag, and nothing once stopped', async () => {
    const m = new EventLoopLagMonitor(10);
    m.start();
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    for (let i = 0; i < 3; i++) {
      await sleep(100);
      m.sample();
    }
    const until = performance.now() + 150;
    while (performance.now() < until);
    await sleep(50);
    const lag = m.sample();
    assert.ok(lag >= 100, `lag after a 150 ms block: ${lag}`);
    // Still in the one-second window a few samples later.
    await sleep(100);
    assert.ok(m.sample() >= 100);
    m.stop();
    assert.equal(m.sample(), 0);
  });
});
