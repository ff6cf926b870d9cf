// From what was recorded — every client request, every request a backend received, what
// the proxy says it tried — to the figures of one scenario run. Times are milliseconds
// since the start of the measured part.

/** A quiet spell this long in the faulty backend's traffic means the proxy took it out. */
export const EJECT_GAP_MS = 1000;
/** The share a recovered backend gets is measured from this long after the fault ended. */
export const SHARE_AFTER_MS = 2000;

export function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * scenario: from SCENARIOS; load: the load generator's result; faults: [{ what, at, t }]
 * (t: when it was done); backendLogs: Map name → [{ t (epoch), kind, id, outcome }];
 * observed: the proxy observer's { tries: Map name → [epoch ms] }.
 */
export function analyze({ scenario, load, faults, startAt, backendLogs, observed, faulty }) {
  const reqs = load.requests;
  const durationMs = load.durationMs;
  const lat = Float64Array.from(reqs, (r) => r.lat).sort();
  const lags = Float64Array.from(reqs, (r) => r.lag).sort();
  const errors = new Map();
  let errorCount = 0;
  for (const r of reqs) {
    const ok = r.status >= 200 && r.status < 300;
    if (ok) continue;
    errorCount++;
    const key = r.status === 0 ? r.error ?? 'error' : String(r.status);
    errors.set(key, (errors.get(key) ?? 0) + 1);
  }
  const served = new Map();
  for (const r of reqs) if (r.served >= 0) served.set(r.served, (served.get(r.served) ?? 0) + 1);

  const out = {
    scenario: scenario.id,
    requests: reqs.length,
    rate: (reqs.length * 1000) / durationMs,
    errors: errorCount,
    errorKinds: [...errors].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}×${n}`),
    p50: percentile(lat, 0.5),
    p99: percentile(lat, 0.99),
    max: lat.length ? lat[lat.length - 1] : NaN,
    lagP99: percentile(lags, 0.99),
    unfinished: load.unfinished,
    maxInFlight: load.maxInFlight,
    servedShare: BACKEND_ORDER(load).map((_, i) => (served.get(i) ?? 0) / Math.max(1, reqs.length)),
    faults,
    ejectedAfterMs: null,
    triesInFault: null,
    triesAfterEjection: null,
    backAfterMs: null,
    shareAfter: null,
    answeredInFault: null,
    duplicates: null,
  };
  const start = faults[0];
  if (start === undefined) return out;
  const faultStart = start.t;
  const faultEnd = faults[1]?.t ?? durationMs;

  // Requests routed to the faulty backend while it was faulty.
  let tries;
  if (scenario.tries === 'proxy') {
    tries = (observed.tries.get(faulty) ?? []).map((t) => t - startAt);
  } else if (scenario.tries === 'any') {
    // Everything the backend received, at the time the client sent it: a frozen backend
    // reads its requests only once it is resumed, so its own clock says nothing.
    const sentAt = load.sentAt;
    tries = [];
    for (const e of backendLogs.get(faulty) ?? []) {
      if (e.kind !== 'G' && e.kind !== 'P') continue;
      const seq = seqOf(e);
      if (seq >= 0 && seq < sentAt.length) tries.push(sentAt[seq]);
    }
  } else {
    // Requests the backend answered badly (503, reset), at the time it did.
    tries = [];
    for (const e of backendLogs.get(faulty) ?? []) {
      if ((e.kind === 'G' || e.kind === 'P') && e.outcome === scenario.tries) tries.push(e.t - startAt);
    }
  }
  tries = tries.filter((t) => t >= faultStart && t < faultEnd).sort((a, b) => a - b);
  Object.assign(out, ejection(tries, faultStart, faultEnd));

  // Requests sent during the fault whose answer came from the faulty backend: each waited
  // for it (for a slow backend, its 500 ms) — what hedging is there to prevent.
  const faultyIdx = BACKEND_ORDER(load).indexOf(faulty);
  out.answeredInFault = reqs.filter((r) => r.t >= faultStart && r.t < faultEnd && r.served === faultyIdx && r.status >= 200 && r.status < 300).length;

  // Back in rotation: the first request sent after the fault ended that the recovered
  // backend answered with a 2xx.
  if (faults[1] !== undefined) {
    const first = reqs.find((r) => r.t >= faultEnd && r.served === faultyIdx && r.status >= 200 && r.status < 300);
    out.backAfterMs = first === undefined ? Infinity : first.t - faultEnd;
    // Back is not the same as back in full: the share of the traffic it got from 2 s after
    // the fault ended to the end of the run (a third when the balancer trusts it again).
    const later = reqs.filter((r) => r.t >= faultEnd + SHARE_AFTER_MS);
    if (later.length > 0) out.shareAfter = later.filter((r) => r.served === faultyIdx).length / later.length;
  }

  if (scenario.method === 'POST') Object.assign(out, postAccounting(reqs, backendLogs));
  return out;
}

/** The client's sequence number of a logged request (-1: none): the header, or the tail of a POST id. */
function seqOf(e) {
  const n = Number(e.kind === 'P' ? e.id.slice(e.id.lastIndexOf('-') + 1) : e.id);
  return Number.isInteger(n) ? n : -1;
}

const BACKEND_ORDER = (load) => load.backends ?? ['b1', 'b2', 'b3'];

/**
 * When the faulty backend stopped getting traffic: the last try before the first quiet
 * spell of EJECT_GAP_MS after the fault started (the fault's start itself counts as a try,
 * so a proxy that sent nothing for a second after it had ejected at once). Tries after that
 * spell are the proxy probing with live requests. Infinity when the traffic never paused
 * for that long before the fault ended.
 */
export function ejection(tries, faultStart, faultEnd) {
  const times = [faultStart, ...tries];
  for (let i = 0; i < times.length; i++) {
    const next = i + 1 < times.length ? times[i + 1] : faultEnd;
    if (next - times[i] >= EJECT_GAP_MS) {
      return { ejectedAfterMs: times[i] - faultStart, triesInFault: tries.length, triesAfterEjection: times.length - i - 1 };
    }
  }
  return { ejectedAfterMs: Infinity, triesInFault: tries.length, triesAfterEjection: 0 };
}

/**
 * POSTs without an Idempotency-Key must reach a backend at most once: ids received more than
 * once are duplicates. Also counted: POSTs a backend received while the client got an error
 * (the client cannot know it went through — the reason such requests must not be retried
 * blindly, and the reason idempotency keys exist).
 */
function postAccounting(reqs, backendLogs) {
  const seen = new Map();
  for (const entries of backendLogs.values()) {
    for (const e of entries) if (e.kind === 'P') seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
  }
  let duplicates = 0;
  let extraDeliveries = 0;
  for (const n of seen.values()) {
    if (n > 1) {
      duplicates++;
      extraDeliveries += n - 1;
    }
  }
  const received = new Set([...seen.keys()].map((id) => Number(id.slice(id.lastIndexOf('-') + 1))));
  let failedButReceived = 0;
  for (const r of reqs) if (!(r.status >= 200 && r.status < 300) && received.has(r.seq)) failedButReceived++;
  return { duplicates, extraDeliveries, postsReceived: seen.size, failedButReceived };
}

/**
 * The run in slices of `sliceMs`, as text for the run's directory (timeline.txt): where a
 * tail in the percentiles comes from, and when the traffic left and came back.
 */
export function timelineText(load, sliceMs = 500) {
  const slices = new Map();
  for (const r of [...load.warmup, ...load.requests]) {
    const k = Math.floor(r.t / sliceMs);
    let a = slices.get(k);
    if (a === undefined) slices.set(k, (a = []));
    a.push(r);
  }
  const names = load.backends ?? ['b1', 'b2', 'b3'];
  const lines = [`# t (s)  requests  p50  p99  max (ms)  generator lag p99 (ms)  served ${names.join('/')}  errors`];
  for (const [k, a] of [...slices].sort((x, y) => x[0] - y[0])) {
    const lat = Float64Array.from(a, (r) => r.lat).sort();
    const lag = Float64Array.from(a, (r) => r.lag).sort();
    const served = names.map((_, i) => a.filter((r) => r.served === i).length);
    const errors = a.filter((r) => !(r.status >= 200 && r.status < 300)).length;
    const f = (x) => x.toFixed(1).padStart(7);
    lines.push(
      `${((k * sliceMs) / 1000).toFixed(1).padStart(6)}  ${String(a.length).padStart(6)}  ${f(percentile(lat, 0.5))} ${f(percentile(lat, 0.99))} ${f(lat[lat.length - 1])}  ${f(percentile(lag, 0.99))}  ${served.join('/')}  ${errors}`,
    );
  }
  return lines.join('\n') + '\n';
}
