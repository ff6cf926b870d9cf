import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../observability/logger.js';
import type { AlertsView, StatsSnapshot, StatsSource, WindowStats } from '../../observability/snapshot.js';

/**
 * One second of traffic for one route, upstream or the whole gateway, as a compact tuple:
 * `[requests, errors, p50Ms, p95Ms, p99Ms]` over that second (so `requests` is also the rate).
 * Tuples rather than objects because the page keeps five minutes of them for every route
 * and upstream, and receives them again on every reconnect.
 */
export type Point = readonly [requests: number, errors: number, p50Ms: number | null, p95Ms: number | null, p99Ms: number | null];

/** The per-second sample the charts are drawn from. */
export interface Sample {
  /** Epoch ms of the snapshot the sample was taken from. */
  readonly at: number;
  readonly total: Point;
  readonly routes: Readonly<Record<string, Point>>;
  readonly upstreams: Readonly<Record<string, Point>>;
}

/** What a `stats` event carries, once a second. */
export interface StatsFrame {
  /** The state now, request statistics over the last 60 seconds (the tables). */
  readonly snapshot: StatsSnapshot;
  /** The last second (the charts). */
  readonly sample: Sample;
  /** `gw.alerts.list()`, or null when alerting does not run. */
  readonly alerts: ReturnType<AlertsView['list']> | null;
}

/** What the feed reads from the gateway (a Gateway satisfies it). */
export interface FeedSource {
  readonly stats: StatsSource;
  readonly alerts: AlertsView | null;
  readonly logger: Logger;
}

export interface FeedOptions {
  /** Live streams served at once; more are refused with 503. */
  readonly maxClients: number;
  /** Seconds of per-second samples kept and sent to a page when it connects. */
  readonly historyS: number;
  /** A comment line is sent this often, so proxies and the browser see a live connection. */
  readonly heartbeatMs: number;
  /** Window of the snapshot in each frame. */
  readonly windowS: number;
  /** A client whose unsent output grows past this is cut off (it reconnects and starts afresh). */
  readonly maxBufferedBytes: number;
}

export const DEFAULT_FEED_OPTIONS: FeedOptions = { maxClients: 16, historyS: 300, heartbeatMs: 15_000, windowS: 60, maxBufferedBytes: 4 * 1024 * 1024 };

/** Browsers wait this long before reconnecting a dropped stream. */
const RETRY_MS = 2000;

/**
 * The live feed behind `GET /api/stream` (server-sent events). It subscribes once to the
 * gateway's stats, keeps a short per-second history for the charts, and when pages are
 * watching builds one frame per second, serialised once and written to every client.
 *
 * Events: `history` once at connect (`{samples: Sample[]}`), then `stats` every second
 * (a {@link StatsFrame}); `: heartbeat` comments in between.
 */
export class DashboardFeed {
  private readonly clients = new Set<ServerResponse>();
  private readonly history: Sample[] = [];
  private unsubscribe: (() => void) | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private lastFrame: string | null = null;
  private failing = false;

  constructor(
    private readonly source: FeedSource,
    private readonly options: FeedOptions = DEFAULT_FEED_OPTIONS,
  ) {}

  /** Starts sampling (the history fills even while nobody watches). */
  start(): void {
    if (this.unsubscribe !== null) return;
    this.unsubscribe = this.source.stats.subscribe(() => this.tick());
    this.heartbeat = setInterval(() => this.broadcast(': heartbeat\n\n'), this.options.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Ends every stream and stops sampling. */
  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /**
   * Serves one stream. Returns false, having written nothing, when the limit of clients is
   * reached: the caller answers 503.
   */
  open(_req: IncomingMessage, res: ServerResponse): boolean {
    if (this.clients.size >= this.options.maxClients) return false;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Tells a reverse proxy in front of the admin listener (nginx) not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    this.clients.add(res);
    // The response's 'close' (not the request's: that one comes as soon as its empty body
    // was read) is when the client went away or the stream was ended.
    res.once('close', () => this.clients.delete(res));
    res.write(`retry: ${RETRY_MS}\n\nevent: history\ndata: ${JSON.stringify({ samples: this.history }, round)}\n\n`);
    // The page need not wait up to a second for its first numbers; if the stats cannot be
    // read right now, the next tick brings them.
    try {
      const frame = this.lastFrame ?? this.buildFrame(this.history.at(-1) ?? null);
      if (frame !== null) this.send(res, frame);
    } catch (err) {
      this.source.logger.error({ err }, 'dashboard: reading the stats failed');
    }
    return true;
  }

  private tick(): void {
    try {
      const sample = toSample(this.source.stats.snapshot(1));
      this.history.push(sample);
      if (this.history.length > this.options.historyS) this.history.splice(0, this.history.length - this.options.historyS);
      this.lastFrame = null;
      if (this.clients.size > 0) {
        this.lastFrame = this.buildFrame(sample);
        if (this.lastFrame !== null) this.broadcast(this.lastFrame);
      }
      this.failing = false;
    } catch (err) {
      // A failing stats source must not take the admin listener down; say so once per run of failures.
      if (!this.failing) this.source.logger.error({ err }, 'dashboard: reading the stats failed');
      this.failing = true;
    }
  }

  private buildFrame(sample: Sample | null): string | null {
    const snapshot = this.source.stats.snapshot(this.options.windowS);
    let alerts: StatsFrame['alerts'] = null;
    try {
      alerts = this.source.alerts?.list() ?? null;
    } catch (err) {
      this.source.logger.warn({ err }, 'dashboard: listing the alerts failed');
    }
    const frame: StatsFrame = { snapshot, sample: sample ?? toSample(this.source.stats.snapshot(1)), alerts };
    return `event: stats\ndata: ${JSON.stringify(frame, round)}\n\n`;
  }

  private broadcast(text: string): void {
    for (const res of this.clients) this.send(res, text);
  }

  private send(res: ServerResponse, text: string): void {
    if (res.writableLength > this.options.maxBufferedBytes) {
      // A page that cannot keep up (a suspended laptop, a slow link) would make us buffer
      // without bound; it reconnects by itself and gets a fresh history.
      this.clients.delete(res);
      res.destroy();
      return;
    }
    res.write(text);
  }
}

function point(w: WindowStats): Point {
  return [w.requests, w.errors, w.p50Ms, w.p95Ms, w.p99Ms];
}

/** The chart data of a one-second snapshot. */
export function toSample(s: StatsSnapshot): Sample {
  const routes: Record<string, Point> = {};
  for (const r of s.routes) routes[r.name] = point(r.window);
  const upstreams: Record<string, Point> = {};
  for (const u of s.upstreams) upstreams[u.name] = point(u.window);
  return { at: s.at, total: point(s.total), routes, upstreams };
}

/** JSON replacer: three decimals are plenty on a dashboard and keep the frames small. */
function round(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value) ? Math.round(value * 1000) / 1000 : value;
}
