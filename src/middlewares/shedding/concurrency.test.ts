import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Answer, RequestContext } from '../../core/middleware.js';
import { ADAPTIVE_DEFAULTS } from '../../upstreams/resilience/overload-schema.js';
import { ConcurrencyLimiter, createConcurrencyMiddleware } from './concurrency.js';
import type { ConcurrencyConfig } from './schema.js';
import { Priority } from './priority.js';
import { ManualScheduler } from './scheduler.js';

/** A request context whose finish hooks the test runs itself (as the exchange will). */
interface FakeRequest extends RequestContext {
  readonly id: string;
  /** Runs the finish hooks like the exchange: once per call, every registered hook. */
  end(status?: number): void;
  hooks: ((status: number) => void)[];
}

function request(id: string, rawHeaders: string[] = []): FakeRequest {
  const hooks: ((status: number) => void)[] = [];
  return {
    id,
    hooks,
    method: 'GET',
    path: '/',
    query: '',
    rawHeaders,
    clientIp: '127.0.0.1',
    requestId: id,
    routeName: 'r',
    params: null,
    upstreamHeaders: [],
    responseHeaders: null,
    identity: null,
    onFinish(cb) {
      hooks.push(cb);
    },
    end(status = 200) {
      for (const h of hooks) h(status);
    },
  };
}

const base: ConcurrencyConfig = { maxConcurrent: 2, maxQueue: 3, queueTimeoutMs: 50, codel: null, adaptive: null };

/** What happened to each request: 'admitted' (sync or after waiting) or the refusal code, with the time. */
class Outcomes {
  readonly log: string[] = [];
  readonly at = new Map<string, number>();
  constructor(private readonly s: ManualScheduler) {}
  track(id: string, r: Answer | null | Promise<Answer | null>): void {
    if (r instanceof Promise) {
      r.then((a) => this.note(id, a));
      return;
    }
    this.note(id, r);
  }
  private note(id: string, a: Answer | null): void {
    this.log.push(`${id}:${a === null ? 'admitted' : a.code}`);
    this.at.set(id, this.s.now());
  }
}

/** Lets promise callbacks run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Moves the clock 1 ms at a time, letting promise callbacks run at each step, so outcomes are stamped with the time they happened. */
async function step(s: ManualScheduler, ms: number): Promise<void> {
  for (let i = 0; i < ms; i++) {
    s.advance(1);
    await flush();
  }
}

function setup(over: Partial<ConcurrencyConfig> = {}) {
  const s = new ManualScheduler(0);
  const waits: number[] = [];
  const waitsAt: { at: number; ms: number }[] = [];
  const limiter = new ConcurrencyLimiter(
    { ...base, ...over },
    {
      route: 'checkout',
      scheduler: s,
      onQueueWait: (ms) => {
        waits.push(ms);
        waitsAt.push({ at: s.now(), ms });
      },
    },
  );
  const out = new Outcomes(s);
  const reqs = new Map<string, FakeRequest>();
  const admit = (id: string, p: Priority = Priority.Normal) => {
    const r = request(id);
    reqs.set(id, r);
    const result = limiter.admit(r, p);
    out.track(id, result);
    return result;
  };
  return { s, limiter, out, reqs, admit, waits, waitsAt };
}

describe('ConcurrencyLimiter', () => {
  it('admits up to maxConcurrent synchronously, without a promise', () => {
    const { limiter, admit } = setup();
    assert.equal(admit('a'), null);
    assert.equal(admit('b'), null);
    assert.ok(admit('c') instanceof Promise, 'the third waits');
    assert.deepEqual([limiter.stats().inFlight, limiter.stats().queued], [2, 1]);
  });

  it('serves waiters in arrival order (FIFO) as slots are released', async () => {
    const { admit, reqs, out } = setup({ maxQueue: 10 });
    for (const id of ['a', 'b', 'c', 'd', 'e']) admit(id);
    reqs.get('a')!.end();
    await flush();
    reqs.get('b')!.end();
    await flush();
    reqs.get('c')!.end();
    await flush();
    assert.deepEqual(out.log, ['a:admitted', 'b:admitted', 'c:admitted', 'd:admitted', 'e:admitted']);
  });

  it('serves critical waiters first, then normal, then low, each FIFO', async () => {
    const { admit, reqs, out, limiter } = setup({ maxConcurrent: 1, maxQueue: 10 });
    admit('x');
    admit('low1', Priority.Low);
    admit('n1', Priority.Normal);
    admit('low2', Priority.Low);
    admit('c1', Priority.Critical);
    admit('n2', Priority.Normal);
    admit('c2', Priority.Critical);
    const order = ['x', 'c1', 'c2', 'n1', 'n2', 'low1', 'low2'];
    for (const id of order) {
      reqs.get(id)!.end();
      await flush();
    }
    assert.deepEqual(
      out.log.map((l) => l.split(':')[0]),
      order,
    );
    assert.equal(limiter.stats().inFlight, 0);
  });

  it('refuses at once with BRISK_SHED (synchronously, Retry-After) when the queue is full', () => {
    const { admit, limiter } = setup();
    for (const id of ['a', 'b', 'q1', 'q2', 'q3']) admit(id);
    const r = admit('late');
    assert.ok(r !== null && !(r instanceof Promise), 'a plain answer, not a promise');
    const answer = r as Answer;
    assert.equal(answer.status, 503);
    assert.equal(answer.code, 'BRISK_SHED');
    assert.deepEqual(answer.headers, ['retry-after', '1']);
    assert.match(answer.message!, /route "checkout" is at 2 requests in flight and its queue is full \(concurrency\.maxQueue 3/);
    assert.equal(limiter.stats().shed, 1);
    assert.equal(limiter.stats().queued, 3);
  });

  it('maxQueue 0 never queues', () => {
    const { admit } = setup({ maxQueue: 0 });
    admit('a');
    admit('b');
    const r = admit('c') as Answer;
    assert.equal(r.code, 'BRISK_SHED');
  });

  it('a full queue makes room for a higher priority by evicting the youngest waiter of the lowest priority', async () => {
    const { admit, out, limiter } = setup();
    admit('a');
    admit('b');
    admit('low1', Priority.Low);
    admit('low2', Priority.Low);
    admit('n1', Priority.Normal);
    assert.ok(admit('c1', Priority.Critical) instanceof Promise, 'the critical one is queued');
    await flush();
    assert.deepEqual(out.log.slice(2), ['low2:BRISK_SHED']);
    // An equal priority does not evict: a normal request finds no lower one left… but low1 is lower.
    assert.ok(admit('n2', Priority.Normal) instanceof Promise);
    await flush();
    assert.deepEqual(out.log.slice(2), ['low2:BRISK_SHED', 'low1:BRISK_SHED']);
    const r = admit('n3', Priority.Normal) as Answer;
    assert.equal(r.code, 'BRISK_SHED', 'no lower waiter left: refused itself');
    assert.equal(limiter.stats().evicted, 2);
  });

  it('answers BRISK_QUEUE_TIMEOUT at the queue timeout, driven by its timer alone, never later', async () => {
    const { admit, out, s, limiter, waits, reqs } = setup();
    admit('a');
    admit('b');
    admit('w1');
    s.advance(20);
    admit('w2');
    s.advance(29);
    await flush();
    assert.deepEqual(out.log.slice(2), [], 'nothing due before 50 ms');
    s.advance(1);
    await flush();
    assert.deepEqual(out.log.slice(2), ['w1:BRISK_QUEUE_TIMEOUT']);
    assert.equal(out.at.get('w1'), 50);
    s.advance(20);
    await flush();
    assert.deepEqual(out.log.slice(2), ['w1:BRISK_QUEUE_TIMEOUT', 'w2:BRISK_QUEUE_TIMEOUT']);
    assert.equal(out.at.get('w2'), 70);
    assert.deepEqual(waits, [50, 50]);
    const st = limiter.stats();
    assert.deepEqual([st.timedOut, st.queued, st.maxQueueWaitMs], [2, 0, 50]);
    assert.equal(s.pending, 0, 'no timer left once the queue is empty');
    // The exchange answers the refusal and runs the finish hook once: not a double finish,
    // and no slot is released for a request that never had one.
    reqs.get('w1')!.end(503);
    reqs.get('w2')!.end(503);
    assert.deepEqual([limiter.stats().doubleFinishes, limiter.stats().inFlight], [0, 2]);
    reqs.get('w1')!.end(503);
    assert.equal(limiter.stats().doubleFinishes, 1);
  });

  it('a waiter granted before its deadline is not timed out later', async () => {
    const { admit, reqs, out, s } = setup();
    admit('a');
    admit('b');
    admit('w');
    s.advance(30);
    reqs.get('a')!.end();
    s.advance(100);
    await flush();
    assert.deepEqual(out.log.slice(2), ['w:admitted']);
  });

  it('releases a slot exactly once, even when the finish hook runs twice', async () => {
    const { admit, reqs, limiter, out } = setup({ maxQueue: 10 });
    admit('a');
    admit('b');
    admit('w1');
    admit('w2');
    const a = reqs.get('a')!;
    a.end(200);
    a.end(200);
    await flush();
    assert.deepEqual(out.log.slice(2), ['w1:admitted'], 'only one waiter got the slot');
    assert.equal(limiter.stats().inFlight, 2);
    assert.equal(limiter.stats().doubleFinishes, 1);
    // Every hook registered on the context runs, each once per call: still exactly one release.
    reqs.get('w1')!.end(499);
    reqs.get('w1')!.end(499);
    await flush();
    assert.deepEqual(out.log.slice(2), ['w1:admitted', 'w2:admitted']);
    for (const id of ['b', 'w2']) reqs.get(id)!.end();
    assert.equal(limiter.stats().inFlight, 0);
  });

  it('a request that ends while waiting leaves the queue and frees its place', async () => {
    const { admit, reqs, limiter, out } = setup();
    admit('a');
    admit('b');
    admit('w1');
    admit('w2');
    reqs.get('w1')!.end(499);
    await flush();
    assert.equal(limiter.stats().queued, 1);
    assert.equal(limiter.stats().cancelled, 1);
    reqs.get('a')!.end();
    await flush();
    assert.deepEqual(out.log.slice(2), ['w1:BRISK_SHED', 'w2:admitted']);
  });

  it('CoDel: a burst may wait the whole queue timeout, a standing queue only the target', async () => {
    const { admit, reqs, out, s, limiter } = setup({ maxConcurrent: 1, maxQueue: 100, queueTimeoutMs: 50, codel: { targetMs: 5, intervalMs: 100 } });
    admit('x');
    // A burst: a slot was free a moment ago, so waiting 30 ms is fine.
    admit('burst');
    s.advance(30);
    reqs.get('x')!.end();
    await flush();
    assert.deepEqual(out.log, ['x:admitted', 'burst:admitted']);
    // 'burst' holds the only slot while requests keep arriving, every 10 ms from 30 to 140.
    const enqueued = new Map<string, number>();
    for (let i = 0; i < 12; i++) {
      enqueued.set(`s${i}`, s.now());
      admit(`s${i}`);
      await step(s, 10);
    }
    // The first refusal (s0's plain 50 ms timeout at t=80) makes the queue congested: from
    // then on, nobody waits more than 5 ms, and those who already had are refused at once.
    for (const [id, at] of enqueued) {
      const refused = out.at.get(id);
      assert.ok(refused !== undefined && out.log.includes(`${id}:BRISK_QUEUE_TIMEOUT`), `${id} refused`);
      const expected = id === 's0' ? 80 : Math.max(at + 5, 80);
      assert.equal(refused, expected, `${id} enqueued at ${at}`);
    }
    assert.equal(limiter.stats().maxQueueWaitMs, 50);
    // While it keeps refusing, it stays congested; an interval without refusals, after a
    // slot was free with nobody waiting, and the next burst may wait the whole timeout again.
    reqs.get('burst')!.end();
    await step(s, 100);
    admit('next');
    admit('waiter');
    await step(s, 30);
    assert.ok(!out.log.some((l) => l.startsWith('waiter:')), 'not refused after 30 ms: a fresh queue');
    await step(s, 20);
    assert.ok(out.log.includes('waiter:BRISK_QUEUE_TIMEOUT'));
    assert.equal(out.at.get('waiter'), 300);
  });

  it('CoDel: under a standing overload the queue holds only what is served within the target; the excess is refused at once', async () => {
    const { admit, reqs, s, limiter, waitsAt, out } = setup({ maxConcurrent: 2, maxQueue: 50, queueTimeoutMs: 50, codel: { targetMs: 5, intervalMs: 100 } });
    // One request per ms; each holds its slot for 10 ms: 2 slots serve 0.2 per ms.
    const admittedAt = new Map<string, number>();
    const sheddedAt: number[] = [];
    for (let t = 0; t < 400; t++) {
      const id = `r${t}`;
      const r = admit(id);
      if (r === null) admittedAt.set(id, s.now());
      else if (!(r instanceof Promise)) sheddedAt.push(s.now());
      else void r.then((a) => (a === null ? admittedAt.set(id, s.now()) : undefined));
      await step(s, 1);
      for (const [rid, at] of admittedAt) {
        if (s.now() - at >= 10) {
          reqs.get(rid)!.end();
          admittedAt.delete(rid);
        }
      }
    }
    const late = waitsAt.filter((w) => w.at >= 200);
    assert.ok(late.length > 20);
    assert.ok(Math.max(...late.map((w) => w.ms)) <= 5, 'nobody waits past the target');
    // What became of the 200 requests that arrived from t=200 on.
    const fate = { admitted: 0, shed: 0, timedOut: 0 };
    for (const line of out.log) {
      const [id, what] = line.split(':') as [string, string];
      if (Number(id.slice(1)) < 200) continue;
      if (what === 'admitted') fate.admitted++;
      else if (what === 'BRISK_SHED') fate.shed++;
      else fate.timedOut++;
    }
    assert.equal(sheddedAt.filter((t) => t >= 200).length, fate.shed, 'every BRISK_SHED was answered synchronously');
    // The route serves 2 slots / 10 ms = 40 of them; of the rest, most are refused at once.
    assert.ok(fate.admitted >= 35 && fate.admitted <= 42, JSON.stringify(fate));
    assert.ok(fate.shed > 3 * fate.timedOut, JSON.stringify(fate));
    assert.equal(limiter.stats().maxQueueWaitMs <= 50, true);
  });

  it('reports every wait to onQueueWait, measured from enqueue to grant', async () => {
    const { admit, reqs, s, waits } = setup();
    admit('a');
    admit('b');
    admit('w');
    s.advance(12);
    reqs.get('a')!.end();
    await flush();
    assert.deepEqual(waits, [12]);
  });

  it('adaptive: the limit comes from the adaptive limit and slots feed it latency from grant to finish', async () => {
    const { admit, reqs, limiter, s } = setup({
      maxConcurrent: 50,
      maxQueue: 100,
      adaptive: { ...ADAPTIVE_DEFAULTS, minLimit: 1, initialLimit: 3, maxLimit: 1000, minRttRefreshMs: 0 },
    });
    assert.equal(limiter.limit, 3);
    assert.equal(limiter.stats().adaptive!.limit, 3);
    for (let i = 0; i < 4; i++) admit(`r${i}`);
    assert.equal(limiter.stats().queued, 1);
    s.advance(7);
    reqs.get('r0')!.end(200);
    await flush();
    assert.equal(limiter.stats().adaptive!.inFlight, 3, 'r3 took the freed slot');
    reqs.get('r1')!.end(503);
    reqs.get('r2')!.end(499);
    const st = limiter.stats().adaptive!;
    assert.equal(st.dropped, 1, '503 counts as a drop');
    assert.equal(st.inFlight, 1);
  });

  it('adaptive limits never exceed maxConcurrent', () => {
    const { limiter } = setup({ maxConcurrent: 5, adaptive: { ...ADAPTIVE_DEFAULTS, initialLimit: 20, maxLimit: 1000, minRttRefreshMs: 0 } });
    assert.equal(limiter.limit, 5);
  });
});

describe('createConcurrencyMiddleware', () => {
  it('takes the priority from the header only when configured', async () => {
    const s = new ManualScheduler(0);
    const open = createConcurrencyMiddleware({ ...base, maxConcurrent: 1, maxQueue: 1 }, { route: 'r', priority: 'low', priorityHeader: 'X-Brisk-Priority', scheduler: s });
    const closed = createConcurrencyMiddleware({ ...base, maxConcurrent: 1, maxQueue: 1 }, { route: 'r', priority: 'low', priorityHeader: null, scheduler: s });
    for (const mw of [open, closed]) {
      assert.equal(mw.handle(request('first')), null);
      assert.ok(mw.handle(request('low')) instanceof Promise, 'route priority low: queued');
      // A critical header evicts the low waiter only where the header is honoured.
      const r = mw.handle(request('crit', ['x-brisk-priority', 'Critical']));
      if (mw === open) assert.ok(r instanceof Promise, 'header honoured: the critical request takes the place');
      else assert.equal((r as Answer).code, 'BRISK_SHED', 'header ignored: a low request finds the queue full');
    }
    assert.equal(open.limiter.stats().evicted, 1);
    assert.equal(closed.limiter.stats().evicted, 0);
    assert.equal(open.name, 'concurrency');
  });

  it('refuses in well under a millisecond when full (no waiting, no timers)', () => {
    const mw = createConcurrencyMiddleware({ ...base, maxConcurrent: 1, maxQueue: 0 }, { route: 'r', priority: 'normal', priorityHeader: null });
    mw.handle(request('a'));
    const started = performance.now();
    for (let i = 0; i < 10_000; i++) mw.handle(request(`x${i}`));
    const perRefusal = (performance.now() - started) / 10_000;
    assert.ok(perRefusal < 0.1, `${perRefusal}ms per refusal`);
    assert.equal(mw.limiter.stats().shed, 10_000);
  });
});
