/**
 * The etcd v3 provider (`discovery.etcd`): every key under a prefix is one instance, its
 * value a target URL or `{"url", "weight"}`, put with a lease the instance keeps alive — a
 * crashed instance's lease expires and etcd deletes its key.
 *
 * It speaks to etcd through the one etcd client (`etcd/client.ts`, over etcd's JSON
 * gateway, which the config store and `brisk config push` use too): the range read, the
 * watch stream, the key encoding and the choice of endpoint live there.
 *
 * A round: read the whole prefix (the view, and the revision it was read at), then watch
 * from the next revision; each event batch is applied to the view and answered. Every
 * `interval` the prefix is read again: it confirms the view (staleness), and a failure
 * there — etcd down or frozen — ends the round, the watch with it; so does a read that had
 * to fail over to another member (the watch is on the one that did not answer). Then the
 * next round starts after a backoff (200 ms doubling to 5 s), the client starting from
 * the next endpoint. A watch cancelled by a compaction ends the round too: the next one
 * reads again. A read older than what the watch already applied is ignored, so a slow
 * read never brings back a deleted key.
 */
import type { DiscoveredTarget, DiscoveryProvider, DiscoverySink, ProviderContext } from './config/contract.js';
import type { EtcdDiscoveryConfig } from './config/types.js';
import { EtcdClient, EtcdWatchCanceledError, type EtcdEvent } from '../../etcd/client.js';
import { entryTarget } from './entries.js';
import { Pause } from './watch-kit.js';

const MIN_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 5000;

export function start(config: EtcdDiscoveryConfig, sink: DiscoverySink, context: ProviderContext): DiscoveryProvider {
  const p = new EtcdProvider(config, sink, context);
  void p.run();
  return p;
}

class EtcdProvider implements DiscoveryProvider {
  private stopped = false;
  private stopWatch: (() => void) | null = null;
  private readonly pause = new Pause();
  private readonly client: EtcdClient;
  /** The view: value by key. */
  private kvs = new Map<string, string>();
  /** The newest revision the view reflects. */
  private revision = 0;

  constructor(
    private readonly config: EtcdDiscoveryConfig,
    private readonly sink: DiscoverySink,
    private readonly context: ProviderContext,
  ) {
    this.client = new EtcdClient({ endpoints: config.endpoints, timeoutMs: config.timeoutMs });
  }

  async run(): Promise<void> {
    let backoff = MIN_BACKOFF_MS;
    while (!this.stopped) {
      const failure = await this.round(() => (backoff = MIN_BACKOFF_MS));
      if (this.stopped) return;
      if (failure !== null) this.sink.failed(failure);
      // A watch that ended cleanly (compaction, a read that failed over) starts again soon; a failure backs off.
      await this.pause.wait(failure === null ? MIN_BACKOFF_MS : backoff);
      if (failure !== null) backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopWatch?.();
    this.pause.wake();
  }

  /** One read-then-watch; resolves with why it failed, or null when it ended without a failure. */
  private async round(onRead: () => void): Promise<string | null> {
    const what = `a read of ${this.config.prefix}`;
    // A read that no endpoint answered: the backoff grows.
    try {
      await this.read();
    } catch (err) {
      return `etcd did not answer ${what}: ${(err as Error).message}`;
    }
    if (this.stopped) return null;
    onRead();
    const base = this.client.endpoint;
    return new Promise<string | null>((resolve) => {
      let done = false;
      const finish = (failure: string | null): void => {
        if (done) return;
        done = true;
        clearInterval(ticker);
        stopWatch();
        this.stopWatch = null;
        resolve(failure);
      };
      const stopWatch = this.client.watch(this.config.prefix, this.revision + 1, (events, revision) => this.apply(events, revision), (err) => {
        // The reads judge whether etcd is up: a watch that ended (cancelled by a compaction,
        // its stream cut, its member gone) starts over soon from a read, which fails over.
        const reason = err instanceof EtcdWatchCanceledError ? (err.reason ?? 'compacted') : err.message;
        this.context.logger.info({ upstream: this.context.upstream, endpoint: base, reason }, `upstream "${this.context.upstream}": etcd watch of ${this.config.prefix} ended (${reason}); reading again`);
        finish(null);
      }, true);
      this.stopWatch = () => finish(null);
      const ticker = setInterval(() => {
        this.read().then(
          () => {
            // The watch's member did not answer the read (another one did): watch there instead.
            if (this.client.endpoint === base || done) return;
            this.context.logger.info({ upstream: this.context.upstream, from: base, to: this.client.endpoint }, `upstream "${this.context.upstream}": etcd at ${base} did not answer a read of ${this.config.prefix}; watching ${this.client.endpoint} instead`);
            finish(null);
          },
          (err: unknown) => finish(`etcd did not answer ${what}: ${(err as Error).message}`),
        );
      }, this.config.intervalMs);
    });
  }

  /** Reads the whole prefix and answers; rejects when no endpoint answers in time. */
  private async read(): Promise<void> {
    const { kvs, revision } = await this.client.getPrefix(this.config.prefix);
    if (revision < this.revision || this.stopped) return;
    this.revision = revision;
    this.kvs = new Map(kvs.map((kv) => [kv.key, kv.value]));
    this.answer();
  }

  /** Applies one batch of watched changes and answers. */
  private apply(events: readonly EtcdEvent[], revision: number): void {
    if (this.stopped) return;
    for (const e of events) {
      if (e.type === 'delete') this.kvs.delete(e.kv.key);
      else this.kvs.set(e.kv.key, e.kv.value);
    }
    if (revision > this.revision) this.revision = revision;
    this.answer();
  }

  private answer(): void {
    if (this.stopped) return;
    const targets: DiscoveredTarget[] = [];
    for (const [key, value] of this.kvs) {
      let entry: unknown = value.trim();
      if ((entry as string).startsWith('{')) {
        try {
          entry = JSON.parse(value);
        } catch {
          targets.push({ url: `(${key}) is neither a URL nor JSON` });
          continue;
        }
      }
      const t = entryTarget(entry, this.context.scheme);
      targets.push('invalid' in t ? { url: `(${key}) ${t.invalid}` } : t);
    }
    this.sink.answer(targets);
  }
}
