/**
 * Outlier hints shared between gateway nodes through Redis, with a quorum.
 *
 * Each node still ejects on its own evidence (its own traffic), and that ejection is
 * published: a sorted set per target, `<prefix><upstream>|<origin>`, member = node id,
 * score = when the ejection ends (ms since the epoch). When at least `quorum` nodes hold
 * an ejection that has not ended, every node ejects the target too — a node that has
 * sent it little traffic need not find out on its own — until fewer than `quorum` still
 * do (the quorum-th latest end). An ejection made on a hint is never published, so hints
 * cannot feed themselves, and one confused node (a bad route from it, a local network
 * fault) cannot eject a target for all. Ends are wall-clock times: the nodes' clocks must
 * agree to well under an ejection time (NTP).
 *
 * Changes are announced on a channel for speed, and every target's set is read again
 * every {@link POLL_MS} (a message lost while reconnecting only delays). Redis down: each
 * node judges alone, as without sharing.
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { describeRedisEndpoint } from '../../config/redis-schema.js';
import type { Ejection } from '../../core/views.js';
import type { Logger } from '../../observability/logger.js';
import { openRedis } from '../../redis/open.js';
import type { SharedOutlierConfig } from '../config/types.js';
import type { Target } from '../target.js';
import type { OutlierDetector, OutlierHintSink } from './outlier.js';

/** How often every target's hints are read again. */
export const POLL_MS = 1000;

// node:cluster marks its workers with NODE_UNIQUE_ID (what `cluster.isWorker` reads); read
// here so that a single-process gateway does not load node:cluster (and dgram with it).
/**
 * This gateway node, as the hints name it: one vote per node, so the data-plane workers
 * of one node (node:cluster children of the primary) share one.
 */
export const NODE_ID = `${hostname()}:${process.env['NODE_UNIQUE_ID'] !== undefined ? process.ppid : process.pid}`;

/** The hints of one upstream on this node; kept across reloads while its config is unchanged. */
export class SharedOutlierHints implements OutlierHintSink {
  private readonly client: Redis;
  private readonly sub: Redis;
  private detector: OutlierDetector | null = null;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private down = false;
  /** Hints applied here (by origin): a quorum ejected the target. */
  applied = 0;

  constructor(
    private readonly upstream: string,
    private readonly config: SharedOutlierConfig,
    private readonly logger: Logger,
    private readonly nodeId = config.node ?? NODE_ID,
  ) {
    this.client = openRedis(config.endpoint, { timeoutMs: config.timeoutMs });
    this.client.on('error', (err: Error) => this.markDown(err.message));
    this.client.on('ready', () => {
      if (this.down) this.logger.info({ upstream, redis: describeRedisEndpoint(config.endpoint) }, 'outlier hints: Redis back; sharing again');
      this.down = false;
    });
    this.sub = openRedis(config.endpoint, { subscriber: true });
    this.sub.on('error', () => {});
    this.sub.subscribe(this.channel).catch(() => {});
    this.sub.on('message', (_channel: string, origin: string) => void this.evaluate([origin]));
    this.timer = setInterval(() => void this.evaluate(null), POLL_MS);
    this.timer.unref();
  }

  private get channel(): string {
    return `${this.config.keyPrefix}${this.upstream}`;
  }

  private key(origin: string): string {
    return `${this.config.keyPrefix}${this.upstream}|${origin}`;
  }

  /** The detector of the config version in force (a reload hands over the new one). */
  attach(detector: OutlierDetector): void {
    this.detector = detector;
    detector.hints = this;
  }

  ejected(target: Target, ejection: Ejection): void {
    if (this.client.status !== 'ready') return;
    const key = this.key(target.origin);
    const ttl = Math.max(1000, ejection.until - Date.now() + 60_000);
    this.client
      .multi()
      .zadd(key, ejection.until, this.nodeId)
      .zremrangebyscore(key, '-inf', Date.now())
      .pexpire(key, ttl)
      .publish(this.channel, target.origin)
      .exec()
      .catch((err: unknown) => this.markDown((err as Error).message));
  }

  readmitted(target: Target): void {
    if (this.client.status !== 'ready') return;
    this.client
      .multi()
      .zrem(this.key(target.origin), this.nodeId)
      .publish(this.channel, target.origin)
      .exec()
      .catch(() => {});
  }

  /** Reads the hints of `origins` (null: every target) and ejects where a quorum agrees. */
  async evaluate(origins: readonly string[] | null): Promise<void> {
    const detector = this.detector;
    if (this.closed || detector === null || this.client.status !== 'ready') return;
    const list = origins ?? detector.watched().filter((t) => t.ejection === null).map((t) => t.origin);
    if (list.length === 0) return;
    const now = Date.now();
    const pipeline = this.client.pipeline();
    for (const origin of list) pipeline.zrangebyscore(this.key(origin), now, '+inf', 'WITHSCORES');
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (err) {
      this.markDown((err as Error).message);
      return;
    }
    list.forEach((origin, i) => {
      const reply = replies?.[i];
      if (reply === undefined || reply[0] !== null || !Array.isArray(reply[1])) return;
      const flat = reply[1] as string[];
      const ends: number[] = [];
      for (let j = 1; j < flat.length; j += 2) ends.push(Number(flat[j]));
      const quorum = this.config.quorum;
      if (ends.length < quorum) return;
      // Until fewer than `quorum` nodes still hold theirs.
      ends.sort((a, b) => b - a);
      const until = ends[quorum - 1]!;
      if (detector.ejectOnHint(origin, `${ends.length} nodes ejected it (quorum ${quorum})`, until, now)) this.applied++;
    });
  }

  private markDown(reason: string): void {
    if (this.down || this.closed) return;
    this.down = true;
    this.logger.warn({ upstream: this.upstream, reason }, 'outlier hints: Redis unavailable; this node judges its targets alone until it is back');
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.client.disconnect();
    this.sub.disconnect();
  }
}
