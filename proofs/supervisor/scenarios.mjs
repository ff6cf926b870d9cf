// The scenarios of the supervisor proof, against Brisk: each injects one fault (or one
// change of load) while the open-loop load runs, waits for what the supervisor should do,
// and judges it against the bar of issue 13. Each returns one row of the table.
import { alive } from '../proof-kit.mjs';
import { sleep, until } from './brisk-stack.mjs';

/** What a row says. */
function row(id, name, expected, pass, observed, slice, times = {}) {
  return { id, name, expected, pass: Boolean(pass), observed, clientErrors: slice.errors, requests: slice.requests, errorKinds: slice.errorKinds, p50Ms: slice.p50Ms, p99Ms: slice.p99Ms, ...times };
}

async function inRotation(stack, url) {
  const r = await stack.admin('GET', '/api/upstreams/products/targets');
  return r.body.targets.some((t) => t.url === url && t.state === 'active' && t.health === 'healthy');
}

/** The ready instance that replaced instance `victim` (for one of `reasons`). */
async function replacementOf(stack, victim, reasons) {
  const s = await stack.service();
  return s.instances.find((i) => i.state === 'ready' && i.lastRestart?.replaced === victim && reasons.includes(i.lastRestart.reason)) ?? null;
}

async function threeReady(stack) {
  return until(async () => ((await stack.readyInstances()).length >= 3 && (await stack.service()).instances.every((i) => i.state === 'ready') ? true : null), 30_000);
}


export async function sigkill(stack, load, s, ctx) {
  await threeReady(stack);
  const before = await stack.service();
  const victim = before.instances[0];
  const t0 = load.now();
  const at = Date.now();
  process.kill(victim.pid, 'SIGKILL');
  const next = await until(() => replacementOf(stack, victim.id, ['exit']), 15_000);
  const rotation = next !== null && (await until(() => inRotation(stack, next.url), 5000)) !== null;
  await sleep(s.settleMs);
  const slice = load.slice(t0, load.now());
  ctx.startMs = next === null ? null : next.readyAt - next.startedAt;
  const restartMs = next === null ? null : next.readyAt - at;
  return row(1, 'SIGKILL one of 3 instances', '0 client errors; replaced; back in rotation', slice.errors === 0 && next !== null && rotation, next === null ? 'not replaced within 15 s' : `#${victim.id} killed; #${next.id} ready ${restartMs} ms later${rotation ? ', in rotation' : ', NOT in rotation'}`, slice, { restartMs, recoveryMs: restartMs });
}

export async function sigstop(stack, load, s, ctx) {
  await threeReady(stack);
  const before = await stack.service();
  const victim = before.instances[0];
  const t0 = load.now();
  const at = Date.now();
  process.kill(victim.pid, 'SIGSTOP');
  // A hung instance fails its health checks (the unhealthy rule), and the requests it holds
  // make it slow (the latency rule): whichever notices first restarts it.
  const next = await until(() => replacementOf(stack, victim.id, ['unhealthy', 'slow']), 30_000);
  const gone = (await until(() => !alive(victim.pid), s.stopTimeoutMs + 10_000)) !== null;
  if (!gone && alive(victim.pid)) {
    // Never leave a stopped process behind, whatever the verdict.
    process.kill(victim.pid, 'SIGKILL');
  }
  await sleep(s.settleMs);
  const slice = load.slice(t0, load.now());
  // The bar: detection by the health check (its threshold × (interval + timeout)), then
  // unhealthyFor, then the replacement's own start time, and a second of slack.
  const detectMs = s.unhealthyThreshold * (s.healthIntervalMs + s.healthTimeoutMs);
  const startMs = next === null ? (ctx.startMs ?? 1000) : next.readyAt - next.startedAt;
  const barMs = s.unhealthyForMs + detectMs + startMs + 1000;
  const restartMs = next === null ? null : next.readyAt - at;
  const pass = slice.errors === 0 && next !== null && restartMs <= barMs && gone;
  const observed = next === null ? 'not restarted within 30 s' : `#${victim.id} stopped (SIGSTOP); restarted (${next.lastRestart.reason}): #${next.id} ready ${restartMs} ms later (bar ${barMs} ms = unhealthyFor ${s.unhealthyForMs} + detection ${detectMs} + start ${startMs} + 1000)${gone ? '; the hung process was killed' : '; the hung process is STILL THERE'}`;
  return row(2, 'SIGSTOP one instance (hung)', '0 client errors; restarted within unhealthyFor + start time', pass, observed, slice, { restartMs, recoveryMs: restartMs });
}

export async function slow(stack, load, s) {
  await threeReady(stack);
  // The rule judges instances ready for the whole window.
  await sleep(s.slowForS * 1000);
  const before = await stack.service();
  const [victim, ...siblings] = before.instances;
  const t0 = load.now();
  const at = Date.now();
  await fetch(`http://127.0.0.1:${victim.port}/__slow?ms=${s.slowExtraMs}`, { method: 'POST' });
  // Two rules can notice: the latency rule (p99 above its bound while the siblings are
  // below), or — first, when its requests keep losing to hedges — outlier detection ejects
  // it and the unhealthy rule restarts it. Either replaces it; neither may touch a sibling.
  const next = await until(() => replacementOf(stack, victim.id, ['slow', 'unhealthy']), s.slowForS * 1000 + 30_000);
  const after = await stack.service();
  const ruleRestarts = (x) => (x.restarts.slow ?? 0) + (x.restarts.unhealthy ?? 0);
  // Only the victim was restarted by a rule (scaling may still add or remove instances).
  const untouched = ruleRestarts(after) - ruleRestarts(before) === 1 && !after.instances.some((i) => siblings.some((x) => x.id === i.lastRestart?.replaced));
  const victimGone = !after.instances.some((i) => i.id === victim.id && i.state !== 'draining' && i.state !== 'stopping');
  await sleep(s.settleMs);
  const slice = load.slice(t0, load.now());
  const restartMs = next === null ? null : next.readyAt - at;
  const detail = next?.lastRestart?.detail ?? '';
  const observed = next === null ? 'not restarted' : `#${victim.id} +${s.slowExtraMs} ms; replaced by #${next.id} after ${restartMs} ms (${next.lastRestart?.reason}: ${detail}); siblings ${untouched ? 'untouched' : 'RESTARTED TOO'}`;
  return row(3, `one instance +${s.slowExtraMs} ms slow`, 'restarted (latency rule, or ejected for losing to hedges); siblings untouched', next !== null && untouched && victimGone, observed, slice, { restartMs, recoveryMs: restartMs });
}

export async function rolling(stack, load, s) {
  await threeReady(stack);
  const before = await stack.service();
  const t0 = load.now();
  const at = Date.now();
  const r = await stack.admin('POST', '/api/services/products/restart', { wait: true });
  const tookMs = Date.now() - at;
  await sleep(s.settleMs);
  const after = await stack.service();
  const allNew = before.instances.every((o) => !after.instances.some((i) => i.id === o.id));
  const slice = load.slice(t0, load.now());
  const observed = r.status === 200 ? `${before.instances.length} instances replaced one by one in ${tookMs} ms` : `restart answered ${r.status}: ${JSON.stringify(r.body)}`;
  return row(4, 'rolling restart of all instances', '0 client errors', r.status === 200 && allNew && slice.errors === 0, observed, slice, { restartMs: tookMs, recoveryMs: tookMs });
}

export async function loadStep(stack, load, s) {
  await threeReady(stack);
  const lead = load.now();
  await sleep(2000);
  const base = load.slice(lead, load.now());
  const t0 = load.now();
  const at = Date.now();
  load.setRate(s.baseRate * s.step);
  const timeline = [];
  let peak = 0;
  let enoughAt = null;
  const needed = Math.min(s.max, Math.ceil((s.baseRate * s.step * s.workMs) / 1000 / s.targetInFlight));
  while (Date.now() - at < s.stepMs) {
    const v = await stack.service();
    peak = Math.max(peak, v.ready);
    if (enoughAt === null && v.ready >= needed) enoughAt = Date.now() - at;
    timeline.push([Date.now() - at, v.desired, v.ready]);
    await sleep(250);
  }
  const stepEnd = load.now();
  const late = load.slice(stepEnd - 4000, stepEnd);
  const early = load.slice(t0, t0 + 2000);
  load.setRate(s.baseRate);
  const backAt = Date.now();
  const scaledIn = await until(async () => {
    const v = await stack.service();
    return v.desired === s.min && v.instances.length === s.min && v.instances.every((i) => i.state === 'ready') ? true : null;
  }, s.scaleDownAfterMs + 20_000);
  const scaledInMs = scaledIn === null ? null : Date.now() - backAt;
  await sleep(1000);
  const slice = load.slice(t0, load.now());
  const perSecond = [];
  for (let t = t0; t < stepEnd + 3000; t += 1000) perSecond.push(load.slice(t, t + 1000).p99Ms);
  const drainSlice = load.slice(stepEnd, load.now());
  // Recovered: back within 300 ms of the p99 before the step (or twice it), or down to a
  // third of the p99 of the step's first seconds (a machine busy with other work raises
  // every latency, the overload's and the recovery's alike). Without more instances the
  // queue grows for as long as the step lasts, and the p99 with it: seconds (PM2's row).
  const p99Bound = Math.round(Math.max(2 * (base.p99Ms ?? s.workMs), (base.p99Ms ?? s.workMs) + 300));
  const recovered = late.p99Ms !== null && (late.p99Ms <= p99Bound || (early.p99Ms !== null && late.p99Ms <= early.p99Ms / 3));
  const pass = peak >= needed && recovered && scaledIn !== null && slice.errors === 0;
  const observed = `${s.baseRate}→${s.baseRate * s.step} req/s: ${s.min}→${peak} ready (needed ${needed}, reached in ${enoughAt ?? '—'} ms); p99 ${base.p99Ms} ms before, ${early.p99Ms} ms in the first 2 s, ${late.p99Ms} ms at the end (bound ${p99Bound}, or a third of the first 2 s); back to ${s.min} ${scaledInMs === null ? 'NEVER' : `${scaledInMs} ms`} after the load fell (scaleDownAfter ${s.scaleDownAfterMs} ms), ${drainSlice.errors} errors while draining`;
  return row(5, `load step ×${s.step} then back`, 'scales out to meet targetInFlight, p99 recovers; scales back in after the window, 0 errors while draining', pass, observed, slice, { restartMs: enoughAt, recoveryMs: enoughAt, timeline, p99PerSecond: perSecond });
}

export async function crashLoop(stack, load, s) {
  await threeReady(stack);
  const t0 = load.now();
  const at = Date.now();
  const reload = await stack.reload(true);
  const gaveUp = await until(async () => ((await stack.service('flaky'))?.gaveUp ? true : null), 60_000);
  const gaveUpMs = gaveUp === null ? null : Date.now() - at;
  const flaky = await stack.service('flaky');
  const alert = await until(async () => (await stack.alerts()).find((a) => a.rule === 'service-problem' && a.labels.service === 'flaky' && a.state === 'firing') ?? null, 10_000);
  const answer = await fetch(`${stack.url.replace('/work', '')}/flaky/x`);
  await sleep(s.settleMs);
  const slice = load.slice(t0, load.now());
  const restarts = flaky.restarts.exit ?? 0;
  const observed = `reload ${reload.status}; ${restarts} restarts with backoff, ${gaveUp === null ? 'NOT given up' : `given up after ${gaveUpMs} ms`} (${flaky.problem?.code ?? 'no problem'}); alert ${alert === null ? 'NOT fired' : `"${alert.rule}" firing`}; /flaky answers ${answer.status}; products kept serving`;
  return row(6, 'crash loop (exits at start)', 'backoff, gives up after the budget, alert fired, Brisk still serves the other services', reload.status === 200 && gaveUp !== null && alert !== null && restarts === s.crashBudget && slice.errors === 0, observed, slice, { restartMs: null, recoveryMs: gaveUpMs });
}

export const SCENARIOS = [sigkill, sigstop, slow, rolling, loadStep, crashLoop];
