/**
 * The etcd v3 provider (`discovery.etcd`): every key under a prefix is one instance, its
 * value a target URL or `{"url", "weight"}`, put with a lease the instance keeps alive — a
 * crashed instance's lease expires and etcd deletes its key.
 *
 * Through etcd's v3 JSON gateway over HTTP (`/v3/kv/range`, `/v3/watch`), not the `etcd3`
 * npm package: the gateway is part of etcd's stable API since 3.4, it needs nothing but
 * `fetch`, and the watch is a stream of JSON lines. `etcd3` would bring gRPC and protobuf
 * into the gateway's runtime dependencies for three calls (`@grpc/grpc-js` is only a test
 * dependency here), and its watcher's reconnection is a second state machine to trust.
 *
 * A round: read the whole prefix (the view, and the revision it was read at), then watch
 * from the next revision; each event batch is applied to the view and answered. Every
 * `interval` the prefix is read again: it confirms the view (staleness), and a failure
 * there — etcd down or frozen — ends the round, the watch with it. Then the next endpoint
 * is tried after a backoff (200 ms doubling to 5 s). A watch cancelled by a compaction ends
 * the round too: the next one reads again. A read older than what the watch already
 * applied is ignored, so a slow read never brings back a deleted key.
 */
import type { DiscoveredTarget, DiscoveryProvider, DiscoverySink, ProviderContext } from './config/contract.js';
import type { EtcdDiscoveryConfig } from './config/types.js';
import { entryTarget } from './entries.js';
import { fetchFailure, jsonLines, Pause } from './watch-kit.js';

interface KeyValue {
  readonly key: string;
  readonly value?: string;
}

interface RangeAnswer {
  readonly header?: { readonly revision?: string };
  readonly kvs?: readonly KeyValue[];
}

interface WatchLine {
  readonly result?: {
    readonly header?: { readonly revision?: string };
    readonly created?: boolean;
    readonly canceled?: boolean;
    readonly compact_revision?: string;
    readonly cancel_reason?: string;
    readonly events?: readonly { readonly type?: 'PUT' | 'DELETE'; readonly kv: KeyValue }[];
  };
  readonly error?: { readonly message?: string };
}

const MIN_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 5000;

export function start(config: EtcdDiscoveryConfig, sink: DiscoverySink, context: ProviderContext): DiscoveryProvider {
  const p = new EtcdProvider(config, sink, context);
  void p.run();
  return p;
}

class EtcdProvider implements DiscoveryProvider {
  private stopped = false;
  private round: AbortController | null = null;
  private readonly pause = new Pause();
  private endpoint = 0;
  /** The view: value by key (base64 key, decoded value). */
  private kvs = new Map<string, string>();
  /** The newest revision the view reflects. */
  private revision = 0n;
  private readonly key: string;
  private readonly rangeEnd: string;

  constructor(
    private readonly config: EtcdDiscoveryConfig,
    private readonly sink: DiscoverySink,
    private readonly context: ProviderContext,
  ) {
    this.key = Buffer.from(config.prefix).toString('base64');
    this.rangeEnd = prefixEnd(Buffer.from(config.prefix)).toString('base64');
  }

  async run(): Promise<void> {
    let backoff = MIN_BACKOFF_MS;
    while (!this.stopped) {
      const round = new AbortController();
      this.round = round;
      const base = this.config.endpoints[this.endpoint % this.config.endpoints.length]!;
      let failure: string | null = null;
      try {
        await this.read(base, round.signal);
        backoff = MIN_BACKOFF_MS;
        const ticker = setInterval(() => {
          this.read(base, round.signal).catch((err: unknown) => {
            if (!round.signal.aborted) {
              failure = `etcd at ${base} did not answer a read of ${this.config.prefix}: ${fetchFailure(err)}`;
              this.sink.failed(failure);
              round.abort();
            }
          });
        }, this.config.intervalMs);
        try {
          await this.watch(base, round.signal);
        } finally {
          clearInterval(ticker);
        }
      } catch (err) {
        if (this.stopped) return;
        if (failure === null && !round.signal.aborted) this.sink.failed(`etcd at ${base} did not answer a read of ${this.config.prefix}: ${fetchFailure(err)}`);
        if (failure !== null || !round.signal.aborted) this.endpoint++;
      }
      round.abort();
      if (this.stopped) return;
      // A watch that ended cleanly (compaction, a restarted member) starts again soon; a failure backs off.
      await this.pause.wait(failure === null ? MIN_BACKOFF_MS : backoff);
      if (failure !== null) backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.round?.abort();
    this.pause.wake();
  }

  /** Reads the whole prefix and answers; rejects when etcd does not answer in time. */
  private async read(base: string, signal: AbortSignal): Promise<void> {
    const res = await fetch(`${base}/v3/kv/range`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: this.key, range_end: this.rangeEnd }),
      signal: AbortSignal.any([signal, AbortSignal.timeout(this.config.timeoutMs)]),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
    const answer = JSON.parse(text) as RangeAnswer;
    const revision = BigInt(answer.header?.revision ?? '0');
    if (revision < this.revision || this.stopped) return;
    this.revision = revision;
    this.kvs = new Map((answer.kvs ?? []).map((kv) => [kv.key, decode(kv.value)]));
    this.answer();
  }

  /** Watches from the revision after the view's; resolves when the stream ends, rejects on a failure. */
  private async watch(base: string, signal: AbortSignal): Promise<void> {
    const res = await fetch(`${base}/v3/watch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ create_request: { key: this.key, range_end: this.rangeEnd, start_revision: String(this.revision + 1n) } }),
      signal,
    });
    if (!res.ok || res.body === null) throw new Error(`watch: HTTP ${res.status}`);
    for await (const line of jsonLines(res.body as AsyncIterable<Uint8Array>)) if (this.onWatchLine(line as WatchLine)) return;
  }

  /** Applies one watch message; true when the watch is over (cancelled: the next round reads again). */
  private onWatchLine(line: WatchLine): boolean {
    if (this.stopped) return true;
    if (line.error !== undefined) throw new Error(`watch: ${line.error.message ?? 'error'}`);
    const r = line.result;
    if (r === undefined) return false;
    if (r.canceled === true || r.compact_revision !== undefined) {
      this.context.logger.info({ upstream: this.context.upstream, reason: r.cancel_reason, compactRevision: r.compact_revision }, `upstream "${this.context.upstream}": etcd watch of ${this.config.prefix} ended (${r.cancel_reason ?? 'compacted'}); reading again`);
      return true;
    }
    const events = r.events ?? [];
    if (events.length === 0) return false;
    for (const e of events) {
      if (e.type === 'DELETE') this.kvs.delete(e.kv.key);
      else this.kvs.set(e.kv.key, decode(e.kv.value));
    }
    const revision = BigInt(r.header?.revision ?? '0');
    if (revision > this.revision) this.revision = revision;
    this.answer();
    return false;
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
          targets.push({ url: `(${decode(key)}) is neither a URL nor JSON` });
          continue;
        }
      }
      const t = entryTarget(entry, this.context.scheme);
      targets.push('invalid' in t ? { url: `(${decode(key)}) ${t.invalid}` } : t);
    }
    this.sink.answer(targets);
  }

}

/** The end of the range of keys starting with `prefix` (etcd's `GetPrefixRangeEnd`). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  // All 0xff: every key from the prefix on.
  return Buffer.from([0]);
}

function decode(b64: string | undefined): string {
  return b64 === undefined ? '' : Buffer.from(b64, 'base64').toString('utf8');
}

