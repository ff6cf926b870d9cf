import type { ErrorCode } from '../core/errors.js';
import type { ExchangeRecord } from '../core/exchange-record.js';
import type { ClientRequest } from '../core/http.js';
import type { RouteView, RuntimeView, TargetView, UpstreamView } from '../core/views.js';
import { membershipStamp, type RequestRecorder, type RequestSink } from '../observability/recorder.js';

/**
 * Finished requests of a worker, for the primary's one recorder.
 *
 * Why requests cross as records rather than as counters: the primary's `RequestRecorder`
 * already feeds `/metrics`, the stats windows, the dashboard and alert rules; replaying a
 * worker's requests into it gives one node-wide view with nothing merged by hand (counters
 * summed, histograms and windows merged, recent errors), and counters stay monotonic when
 * a worker dies because they live in the primary. What it costs: a worker writes 15
 * numbers per request into a `Float64Array` (strings go into a small table per batch), and
 * sends it 25 ms after its first request (or with the next report) as one IPC message; the primary replays each into
 * its recorder (about a microsecond). No IPC per request. What a dead worker loses is its
 * last unsent batch: about 25–40 ms of its requests.
 */

/** Values per request in a batch. */
export const STRIDE = 15;

/**
 * A batch as it crosses: numbers in a `Float64Array` (structured clone copies its bytes at
 * once) and the strings it names once each (route, upstream and target names, methods,
 * error codes…), so the primary does not deserialise three new strings per request.
 */
export interface Batch {
  readonly nums: Float64Array;
  readonly names: readonly string[];
}

/** A worker's sink: what the proxy reports, kept as numbers until the next send. */
export class BatchSink implements RequestSink {
  inFlight = 0;
  private nums = new Float64Array(STRIDE * 256);
  private used = 0;
  private names: string[] = [];
  private index = new Map<string, number>();
  /** Requests recorded since the worker started (for its request share). */
  total = 0;

  /** The string's place in this batch's table; -1 for none. */
  private name(s: string | null | undefined): number {
    if (s === null || s === undefined) return -1;
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.names.length;
      this.names.push(s);
      this.index.set(s, i);
    }
    return i;
  }

  /** Called when a request lands in an empty batch (the worker arms its send). */
  onFirst: () => void = () => {};

  record(ex: ExchangeRecord): void {
    this.inFlight--;
    this.total++;
    if (this.used === 0) this.onFirst();
    if (this.used + STRIDE > this.nums.length) {
      const bigger = new Float64Array(this.nums.length * 2);
      bigger.set(this.nums);
      this.nums = bigger;
    }
    const status = ex.status;
    const code = ex.errorCode;
    const n = this.nums;
    const o = this.used;
    n[o] = ex.route === null ? -1 : this.name(ex.route.name);
    n[o + 1] = ex.upstream === null ? -1 : this.name(ex.upstream.name);
    n[o + 2] = ex.answeredBy === null ? -1 : this.name(ex.answeredBy.key);
    n[o + 3] = status;
    n[o + 4] = performance.now() - ex.started;
    n[o + 5] = this.name(ex.req.method);
    n[o + 6] = ex.bytesOut;
    n[o + 7] = ex.contentLength;
    n[o + 8] = ex.retries;
    n[o + 9] = ex.hedged ? 1 : 0;
    n[o + 10] = this.name(code);
    n[o + 11] = this.name(ex.cacheStatus);
    n[o + 12] = ex.grpc ? this.name(ex.path) : -1;
    // The request id only where the recorder keeps it (its recent errors).
    n[o + 13] = status >= 500 || code !== null ? this.name(ex.requestId) : -1;
    n[o + 14] = ex.grpcStatus;
    this.used = o + STRIDE;
  }

  /** Requests recorded and not yet taken. */
  get pending(): number {
    return this.used / STRIDE;
  }

  /** What was recorded since the last call, as it crosses. */
  take(): Batch {
    const out: Batch = { nums: this.nums.slice(0, this.used), names: this.names };
    this.used = 0;
    this.names = [];
    this.index = new Map();
    return out;
  }
}

/** The primary's replay of worker batches into its recorder, resolved against its own runtime (same config version). */
export class BatchReplay {
  private rt: RuntimeView | null = null;
  private stamp = -1;
  private routes = new Map<string, RouteView>();
  private upstreams = new Map<string, UpstreamView>();
  private targets = new Map<string, TargetView>();
  private readonly ex = new ReplayedExchange();

  constructor(
    private readonly recorder: RequestRecorder,
    private readonly runtime: () => RuntimeView,
  ) {}

  /** Replays one batch; returns how many requests it held. */
  replay(batch: Batch): number {
    this.resolve();
    const ex = this.ex;
    ex.runtime = this.rt!;
    const now = performance.now();
    const nums = batch.nums;
    const names = batch.names;
    const str = (i: number): string | null => (i < 0 ? null : (names[i] ?? null));
    const n = Math.floor(nums.length / STRIDE);
    for (let i = 0; i < n; i++) {
      const o = i * STRIDE;
      const route = str(nums[o]!);
      const upstream = str(nums[o + 1]!);
      const target = str(nums[o + 2]!);
      ex.route = route === null ? null : (this.routes.get(route) ?? null);
      ex.upstream = upstream === null ? null : (this.upstreams.get(upstream) ?? null);
      ex.answeredBy = target === null ? null : (this.targets.get(target) ?? null);
      ex.status = nums[o + 3]!;
      ex.started = now - nums[o + 4]!;
      ex.req.method = str(nums[o + 5]!) ?? undefined;
      ex.bytesOut = nums[o + 6]!;
      ex.contentLength = nums[o + 7]!;
      ex.retries = nums[o + 8]!;
      ex.hedged = nums[o + 9] === 1;
      ex.errorCode = str(nums[o + 10]!) as ErrorCode | null;
      ex.cacheStatus = str(nums[o + 11]!);
      const grpcPath = str(nums[o + 12]!);
      ex.grpc = grpcPath !== null;
      ex.path = grpcPath ?? '';
      ex.requestId = str(nums[o + 13]!) ?? undefined;
      ex.grpcStatus = nums[o + 14]!;
      this.recorder.inFlight++;
      this.recorder.record(ex);
    }
    return n;
  }

  /** Names to the primary's objects, refreshed when the version or a membership changed. */
  private resolve(): void {
    const rt = this.runtime();
    const stamp = membershipStamp(rt);
    if (rt === this.rt && stamp === this.stamp) return;
    this.rt = rt;
    this.stamp = stamp;
    this.routes = new Map(rt.routes.map((r) => [r.name, r]));
    this.upstreams = new Map(rt.upstreams);
    this.targets = new Map();
    for (const u of rt.upstreams.values()) for (const t of u.targets) this.targets.set(t.key, t);
  }
}

/** One mutable record the replay fills for each request (the recorder copies what it keeps). */
class ReplayedExchange implements ExchangeRecord {
  requestId: string | undefined = undefined;
  route: RouteView | null = null;
  upstream: UpstreamView | null = null;
  target: TargetView | null = null;
  path = '';
  pathAndQuery = '';
  clientIp = '';
  traceId: string | undefined = undefined;
  spanId = '';
  parentSpanId = '';
  sampled = false;
  req = { method: undefined as string | undefined } as { method: string | undefined } & ClientRequest;
  runtime!: RuntimeView;
  started = 0;
  status = 0;
  bytesOut = 0;
  contentLength = -1;
  answeredBy: TargetView | null = null;
  errorCode: ErrorCode | null = null;
  cacheStatus: string | null = null;
  attempts = 1;
  retries = 0;
  hedged = false;
  tries = null;
  grpc = false;
  grpcStatus = -1;
}
