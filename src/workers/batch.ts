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
 * a worker dies because they live in the primary. What it costs: a worker pushes a
 * handful of values per request into an array (no allocation but the array's growth), and
 * sends the array every 25 ms (when not empty) as one IPC message; the primary replays each into
 * its recorder (about a microsecond). No IPC per request. What a dead worker loses is its
 * last unsent batch: at most 25 ms of its requests.
 */

/** Values per request in a batch. */
export const STRIDE = 14;
type Cell = string | number | null;

/** A worker's sink: what the proxy reports, kept as flat values until the next report. */
export class BatchSink implements RequestSink {
  inFlight = 0;
  private cells: Cell[] = [];
  /** Requests recorded since the worker started (for its request share). */
  total = 0;

  record(ex: ExchangeRecord): void {
    this.inFlight--;
    this.total++;
    const status = ex.status;
    const code = ex.errorCode;
    const c = this.cells;
    c.push(
      ex.route === null ? null : ex.route.name,
      ex.upstream === null ? null : ex.upstream.name,
      ex.answeredBy === null ? null : ex.answeredBy.key,
      status,
      performance.now() - ex.started,
      ex.req.method ?? null,
      ex.bytesOut,
      ex.contentLength,
      ex.retries,
      ex.hedged ? 1 : 0,
      code,
      ex.cacheStatus,
      ex.grpc ? ex.path : null,
      // The request id only where the recorder keeps it (its recent errors); the grpc status packed beside.
      status >= 500 || code !== null ? (ex.requestId ?? null) : ex.grpc ? ex.grpcStatus : null,
    );
  }

  /** Requests recorded and not yet taken. */
  get pending(): number {
    return this.cells.length;
  }

  /** The values since the last call (the next report's batch). */
  take(): Cell[] {
    const out = this.cells;
    this.cells = [];
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
  replay(cells: readonly Cell[]): number {
    this.resolve();
    const ex = this.ex;
    ex.runtime = this.rt!;
    const now = performance.now();
    const n = Math.floor(cells.length / STRIDE);
    for (let i = 0; i < n; i++) {
      const o = i * STRIDE;
      const route = cells[o] as string | null;
      const upstream = cells[o + 1] as string | null;
      const target = cells[o + 2] as string | null;
      ex.route = route === null ? null : (this.routes.get(route) ?? null);
      ex.upstream = upstream === null ? null : (this.upstreams.get(upstream) ?? null);
      ex.answeredBy = target === null ? null : (this.targets.get(target) ?? null);
      ex.status = cells[o + 3] as number;
      ex.started = now - (cells[o + 4] as number);
      ex.req.method = (cells[o + 5] as string | null) ?? undefined;
      ex.bytesOut = cells[o + 6] as number;
      ex.contentLength = cells[o + 7] as number;
      ex.retries = cells[o + 8] as number;
      ex.hedged = cells[o + 9] === 1;
      ex.errorCode = cells[o + 10] as ErrorCode | null;
      ex.cacheStatus = cells[o + 11] as string | null;
      const grpcPath = cells[o + 12] as string | null;
      ex.grpc = grpcPath !== null;
      ex.path = grpcPath ?? '';
      const last = cells[o + 13];
      ex.requestId = typeof last === 'string' ? last : undefined;
      ex.grpcStatus = typeof last === 'number' ? last : -1;
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
