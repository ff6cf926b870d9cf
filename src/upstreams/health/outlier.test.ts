import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import type { OutlierDetectionConfig } from '../../config/types.js';
import type { Logger } from '../../observability/logger.js';
import { Target } from '../target.js';
import { maxEjectedTargets, Outcome, OutlierDetector } from './outlier.js';

interface LogLine {
  level: number;
  msg: string;
  upstream?: string;
  target?: string;
  reason?: string;
  until?: string;
}

function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

function config(over: Partial<OutlierDetectionConfig> = {}): OutlierDetectionConfig {
  return {
    consecutive5xx: 5,
    consecutiveGatewayFailures: 3,
    failureRate: null,
    baseEjectionMs: 10_000,
    maxEjectionMs: 60_000,
    maxEjectionRatio: 0.5,
    ...over,
  };
}

function targets(n: number): Target[] {
  return Array.from({ length: n }, (_, i) => new Target('u', { origin: `http://127.0.0.1:${9000 + i}`, basePath: '', weight: 1 }, {} as never));
}

const detectors: OutlierDetector[] = [];
after(() => {
  for (const d of detectors) d.stop();
});

function detector(cfg: OutlierDetectionConfig, ts: readonly Target[], logger = captureLogger().logger): OutlierDetector {
  const d = new OutlierDetector('u', cfg, ts, logger);
  detectors.push(d);
  return d;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(3);
  }
}

function report(d: OutlierDetector, t: Target, outcomes: readonly Outcome[], now: number, detail?: string): void {
  for (const o of outcomes) d.onResult(t, o, now, detail);
}

/** Read through a call: TypeScript would keep an earlier `assert.equal(x.ejection, null)` narrowing. */
const reasonOf = (t: Target): string | undefined => t.ejection?.reason;

const S = Outcome.Success;
const E5 = Outcome.Http5xx;
const GW = Outcome.GatewayFailure;
const times = (o: Outcome, n: number): Outcome[] => Array.from({ length: n }, () => o);

describe('OutlierDetector consecutive rules', () => {
  it('ejects after consecutive5xx 5xx answers in a row, not before', () => {
    const ts = targets(3);
    const a = ts[0];
    const { logger, lines } = captureLogger();
    const d = detector(config(), ts, logger);
    const now = Date.now();
    report(d, a!, times(E5, 4), now);
    assert.equal(a!.ejection, null);
    d.onResult(a!, E5, now);
    assert.deepEqual(a!.ejection, { reason: '5 consecutive 5xx', at: now, until: now + 10_000 });
    assert.equal(a!.available, false);
    assert.equal(a!.ejections, 1);
    assert.equal(d.ejectionsTotal, 1);
    const warn = lines.find((l) => l.level === 40)!;
    assert.equal(warn.upstream, 'u');
    assert.equal(warn.target, a!.origin);
    assert.equal(warn.reason, '5 consecutive 5xx');
    assert.equal(warn.until, new Date(now + 10_000).toISOString());
  });

  it('ejects after consecutiveGatewayFailures, naming the last failure', () => {
    const ts = targets(3);
    const d = detector(config(), ts);
    const now = Date.now();
    report(d, ts[0]!, times(GW, 2), now, 'read ECONNRESET');
    assert.equal(ts[0]!.ejection, null);
    d.onResult(ts[0]!, GW, now, 'connect ECONNREFUSED');
    assert.equal(reasonOf(ts[0]!), '3 consecutive gateway failures (last: connect ECONNREFUSED)');
  });

  it('a success resets both counts', () => {
    const ts = targets(3);
    const d = detector(config(), ts);
    const now = Date.now();
    report(d, ts[0]!, [...times(E5, 4), S, ...times(E5, 4)], now);
    report(d, ts[1]!, [GW, GW, S, GW, GW], now);
    assert.equal(ts[0]!.ejection, null);
    assert.equal(ts[1]!.ejection, null);
    assert.deepEqual(d.status(ts[0]!), { consecutive5xx: 4, consecutiveGatewayFailures: 0, windowRequests: 0, windowFailures: 0 });
    assert.deepEqual(d.status(ts[1]!), { consecutive5xx: 2, consecutiveGatewayFailures: 2, windowRequests: 0, windowFailures: 0 });
  });

  it('a 5xx answer resets the gateway count; gateway failures count toward consecutive5xx', () => {
    const ts = targets(3);
    const gwOnly = detector(config({ consecutive5xx: 0 }), ts.slice(0, 2));
    const now = Date.now();
    report(gwOnly, ts[0]!, [GW, GW, E5, GW, GW], now);
    assert.equal(ts[0]!.ejection, null);

    const both = detector(config(), [ts[2]!, ...targets(2)]);
    report(both, ts[2]!, [GW, E5, GW, E5, E5], now);
    assert.equal(reasonOf(ts[2]!), '5 consecutive 5xx or gateway failures');
  });

  it('0 turns a rule off', () => {
    const ts = targets(3);
    const d = detector(config({ consecutive5xx: 0, consecutiveGatewayFailures: 0 }), ts);
    const now = Date.now();
    report(d, ts[0]!, times(E5, 100), now);
    report(d, ts[1]!, times(GW, 100), now);
    assert.equal(ts[0]!.ejection, null);
    assert.equal(ts[1]!.ejection, null);
  });
});

describe('OutlierDetector failure rate', () => {
  const rateOnly = (over: Partial<OutlierDetectionConfig> = {}): OutlierDetectionConfig =>
    config({ consecutive5xx: 0, consecutiveGatewayFailures: 0, failureRate: { threshold: 0.5, minRequests: 10, windowMs: 10_000 }, ...over });

  it('needs minRequests in the window before the rate counts', () => {
    const ts = targets(3);
    const d = detector(rateOnly(), ts);
    const now = Date.now();
    report(d, ts[0]!, times(E5, 9), now);
    assert.equal(ts[0]!.ejection, null);
    d.onResult(ts[0]!, GW, now);
    assert.equal(reasonOf(ts[0]!), 'failure rate 100% over 10s (≥ 50%)');
  });

  it('ejects once the share of failures reaches the threshold', () => {
    const ts = targets(3);
    const d = detector(rateOnly(), ts);
    const now = Date.now();
    report(d, ts[0]!, [S, E5, S, E5, S, E5, S, E5, S, S], now); // 4 of 10
    assert.equal(ts[0]!.ejection, null);
    d.onResult(ts[0]!, E5, now); // 5 of 11
    assert.equal(ts[0]!.ejection, null);
    d.onResult(ts[0]!, GW, now); // 6 of 12
    assert.equal(reasonOf(ts[0]!), 'failure rate 50% over 10s (≥ 50%)');
  });

  it('forgets results older than the window', () => {
    const ts = targets(4);
    const d = detector(rateOnly({ maxEjectionRatio: 1 }), ts);
    const t0 = 1_000_000_000;
    report(d, ts[0]!, times(E5, 5), t0);
    report(d, ts[0]!, times(E5, 5), t0 + 10_500);
    assert.equal(ts[0]!.ejection, null, 'the first five fell out of the window');
    assert.equal(d.status(ts[0]!)!.windowRequests, 0, 'status reads the window at the current time');

    report(d, ts[1]!, times(E5, 5), t0);
    report(d, ts[1]!, times(E5, 5), t0 + 5_000);
    assert.equal(reasonOf(ts[1]!), 'failure rate 100% over 10s (≥ 50%)');

    // Slides bucket by bucket: results 9.5 s apart still share the window.
    report(d, ts[2]!, times(S, 5), t0);
    report(d, ts[2]!, times(E5, 3), t0 + 3_000);
    report(d, ts[2]!, times(E5, 2), t0 + 9_500);
    assert.equal(reasonOf(ts[2]!), 'failure rate 50% over 10s (≥ 50%)');
  });
});

describe('OutlierDetector ejection time', () => {
  it('grows with each ejection of the same target: base, 2×base, … capped at max', () => {
    const ts = targets(3);
    const d = detector(config({ baseEjectionMs: 1000, maxEjectionMs: 2500 }), ts);
    const t = ts[0]!;
    const durations: number[] = [];
    const now = Date.now();
    for (let i = 0; i < 4; i++) {
      report(d, t, times(E5, 5), now);
      assert.ok(t.ejection, `ejection ${i + 1}`);
      durations.push(t.ejection.until - t.ejection.at);
      t.readmit(); // as if its time were up
    }
    assert.deepEqual(durations, [1000, 2000, 2500, 2500]);
    assert.equal(t.ejections, 4);
  });

  it('readmits the target when its time is up, with fresh counts', async () => {
    const ts = targets(3);
    const { logger, lines } = captureLogger();
    const d = detector(config({ baseEjectionMs: 40 }), ts, logger);
    const t = ts[0]!;
    report(d, t, times(E5, 5), Date.now());
    const { until } = t.ejection!;
    let readmittedAt = 0;
    const readmit = t.readmit.bind(t);
    t.readmit = () => {
      readmittedAt = Date.now();
      readmit();
    };
    report(d, t, times(E5, 20), Date.now()); // in flight when ejected: ignored
    await waitFor('readmission', () => t.ejection === null);
    // Date.now() and the timer clock may differ by a millisecond.
    assert.ok(readmittedAt >= until - 1, `readmitted ${until - readmittedAt}ms early`);
    assert.equal(ts[0]!.available, true);
    assert.ok(lines.some((l) => l.level === 30 && /readmitted/.test(l.msg) && l.target === ts[0]!.origin));
    report(d, ts[0]!, times(E5, 4), Date.now());
    assert.equal(ts[0]!.ejection, null, 'counts restart after readmission');
  });

  it('target.ejections decays by one per maxEjection period spent in', () => {
    const ts = targets(3);
    ts[0]!.ejections = 3;
    const start = Date.now();
    const d = detector(config({ baseEjectionMs: 100, maxEjectionMs: 1000 }), ts);
    d.onResult(ts[0]!, S, start + 900);
    assert.equal(ts[0]!.ejections, 3);
    d.onResult(ts[0]!, S, start + 1_100);
    assert.equal(ts[0]!.ejections, 2);
    d.onResult(ts[0]!, S, start + 3_100);
    assert.equal(ts[0]!.ejections, 0);
    report(d, ts[0]!, times(E5, 5), start + 3_200);
    assert.equal(ts[0]!.ejection!.until - ts[0]!.ejection!.at, 100, 'back to the base time');
  });
});

describe('OutlierDetector max ejection percent', () => {
  it('maxEjectedTargets: floor(ratio × n), at least 1 from 2 targets, never all', () => {
    const cases: [number, number, number][] = [
      [0, 1, 0],
      [1, 1, 0],
      [2, 0.5, 1],
      [2, 0.1, 1],
      [3, 0.5, 1],
      [4, 0.5, 2],
      [3, 1, 2],
      [10, 1, 9],
      [100, 0.29, 29],
      [5, 0, 0],
    ];
    for (const [n, ratio, allowed] of cases) assert.equal(maxEjectedTargets(n, ratio), allowed, `${n} targets at ${ratio * 100}%`);
  });

  it('with 3 targets at 50%, a second failing target is not ejected while one is', () => {
    const ts = targets(3);
    const { logger, lines } = captureLogger();
    const d = detector(config({ maxEjectionRatio: 0.5 }), ts, logger);
    const now = Date.now();
    report(d, ts[0]!, times(E5, 5), now);
    report(d, ts[1]!, times(E5, 10), now);
    assert.notEqual(ts[0]!.ejection, null);
    assert.equal(ts[1]!.ejection, null);
    assert.equal(d.refusedEjections, 2);
    const refusals = lines.filter((l) => /not ejecting/.test(l.msg));
    assert.deepEqual(
      refusals.map((l) => l.level),
      [40, 20],
      'warn once, then debug',
    );
    ts[0]!.readmit();
    report(d, ts[1]!, times(E5, 5), now);
    assert.notEqual(ts[1]!.ejection, null, 'ejected once there is room');
  });

  it('never ejects every target, even at 100%', () => {
    const ts = targets(3);
    const d = detector(config({ maxEjectionRatio: 1 }), ts);
    const now = Date.now();
    for (const t of ts) report(d, t, times(GW, 3), now);
    assert.equal(ts.filter((t) => t.ejection !== null).length, 2);
    assert.equal(d.refusedEjections, 1);

    const [only] = targets(1);
    const single = detector(config({ maxEjectionRatio: 1 }), [only!]);
    report(single, only!, times(GW, 30), now);
    assert.equal(only!.ejection, null, 'a lone target is never ejected');
  });
});

describe('OutlierDetector across config versions', () => {
  it('stop() leaves ejections in place; the next detector readmits on time', async () => {
    const ts = targets(3);
    const first = detector(config({ baseEjectionMs: 80 }), ts);
    report(first, ts[0]!, times(E5, 5), Date.now());
    const { until } = ts[0]!.ejection!;
    first.stop();
    report(first, ts[1]!, times(E5, 5), Date.now());
    assert.equal(ts[1]!.ejection, null, 'a stopped detector ignores results');

    const { logger, lines } = captureLogger();
    detector(config({ baseEjectionMs: 80 }), ts, logger);
    assert.notEqual(ts[0]!.ejection, null, 'not readmitted before its time');
    await waitFor('readmission', () => ts[0]!.ejection === null);
    assert.ok(Date.now() >= until - 1);
    assert.ok(lines.some((l) => /readmitted/.test(l.msg)));
  });

  it('a stopped detector does not readmit; a new one readmits an overdue target at once', async () => {
    const ts = targets(3);
    const first = detector(config({ baseEjectionMs: 30 }), ts);
    report(first, ts[0]!, times(E5, 5), Date.now());
    first.stop();
    await sleep(70);
    assert.notEqual(ts[0]!.ejection, null, 'the stopped detector readmitted');
    detector(config({ baseEjectionMs: 30 }), ts);
    await waitFor('readmission', () => ts[0]!.ejection === null);
  });
});

describe('OutlierDetector following a live target set', () => {
  it('watches targets that joined, forgets those that left, and counts the ejection cap over the current list', async () => {
    const ts = targets(4);
    const d = detector(config({ baseEjectionMs: 60_000, maxEjectionRatio: 0.5 }), ts.slice(0, 2));
    const now = Date.now();
    report(d, ts[2]!, times(E5, 5), now);
    assert.equal(ts[2]!.ejection, null, 'a target not (yet) in the set is not judged');

    d.follow(ts.slice(0, 4));
    report(d, ts[0]!, times(E5, 5), now);
    report(d, ts[2]!, times(E5, 5), now);
    assert.notEqual(ts[0]!.ejection, null);
    assert.notEqual(ts[2]!.ejection, null, 'with 4 targets at 50%, two may be out');
    report(d, ts[3]!, times(E5, 5), now);
    assert.equal(ts[3]!.ejection, null, 'not a third');

    d.follow([ts[1]!, ts[3]!]);
    assert.equal(d.status(ts[0]!), undefined, 'a target that left is forgotten');
    report(d, ts[3]!, times(E5, 5), now);
    assert.notEqual(ts[3]!.ejection, null, 'the cap counts the current targets only: of these two, none was out');
  });
});
