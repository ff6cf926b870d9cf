/**
 * A small etcd v3 client over etcd's JSON gateway (`/v3/kv/range`, `/v3/watch`, leases):
 * the config store and discovery read a handful of keys and watch them, which the gateway
 * serves as plain HTTP/JSON. Written by hand rather than taking the `etcd3` package:
 * that one pulls in a gRPC stack and protobuf code generation for a few calls, while
 * undici (already the gateway's HTTP client) does all of this.
 *
 * Several endpoints: a call tries them in turn from the last one that answered, so a
 * dead member costs one timeout, once.
 */
import { jsonLines } from '../core/json-lines.js';
import { request } from '../core/undici.js';

/** One key as etcd holds it. */
export interface EtcdKv {
  readonly key: string;
  readonly value: string;
  /** The cluster revision of the key's last change. */
  readonly modRevision: number;
  /** Changes since the key was created (1 = created). */
  readonly version: number;
  /** The lease attached to the key ('0': none). */
  readonly lease: string;
}

/** One change seen by a watch. */
export interface EtcdEvent {
  readonly type: 'put' | 'delete';
  readonly kv: EtcdKv;
}

export interface EtcdClientOptions {
  /** `http://host:port` of the members. */
  readonly endpoints: readonly string[];
  /** Longest wait for one call on one endpoint. */
  readonly timeoutMs?: number;
}

/** An etcd call failed on every endpoint. */
export class EtcdUnavailableError extends Error {
  constructor(readonly reasons: readonly string[]) {
    super(`etcd unreachable: ${reasons.join('; ')}`);
    this.name = 'EtcdUnavailableError';
  }
}

/**
 * etcd ended a watch itself (a compacted start revision, a member going away): not a
 * failure of the endpoint, the caller reads again and watches from the new revision.
 */
export class EtcdWatchCanceledError extends Error {
  constructor(
    readonly reason: string | undefined,
    readonly compactRevision: number | undefined,
  ) {
    super(`watch canceled: ${reason ?? (compactRevision !== undefined ? `revision compacted (now ${compactRevision})` : 'no reason given')}`);
    this.name = 'EtcdWatchCanceledError';
  }
}

interface RawKv {
  key?: string;
  value?: string;
  mod_revision?: string;
  version?: string;
  lease?: string;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
/** The base64 `range_end` of every key under `prefix`, as the gateway takes it. */
const b64RangeEnd = (prefix: string): string => Buffer.from(prefixEnd(prefix), 'latin1').toString('base64');
const unb64 = (s: string | undefined): string => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));

/** The end of the range of keys that start with `prefix` (etcd's "prefix" convention). */
export function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8');
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      const end = bytes.subarray(0, i + 1);
      end[i]!++;
      return end.toString('latin1');
    }
  }
  return '\0';
}

interface WatchMessage {
  result?: { header?: { revision?: string }; events?: { type?: string; kv?: RawKv }[]; canceled?: boolean; compact_revision?: string; cancel_reason?: string };
  error?: { message?: string };
}

function toKv(raw: RawKv): EtcdKv {
  return { key: unb64(raw.key), value: unb64(raw.value), modRevision: Number(raw.mod_revision ?? 0), version: Number(raw.version ?? 0), lease: raw.lease ?? '0' };
}

/**
 * @example
 * const etcd = new EtcdClient({ endpoints: ['http://127.0.0.1:2379'] });
 * await etcd.put('/brisk/config', yamlText);
 * const kv = await etcd.get('/brisk/config'); // { value, modRevision, … } or null
 * const stop = etcd.watch('/brisk/config', kv.modRevision + 1, (events) => …, (err) => …);
 */
export class EtcdClient {
  private readonly endpoints: readonly string[];
  private readonly timeoutMs: number;
  private preferred = 0;

  constructor(options: EtcdClientOptions) {
    if (options.endpoints.length === 0) throw new Error('etcd: no endpoints');
    this.endpoints = options.endpoints.map((e) => e.replace(/\/+$/, ''));
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  /**
   * The endpoint calls start from (the last one that answered), which a watch also uses:
   * a caller that follows a key can tell when a read had to fail over from it.
   */
  get endpoint(): string {
    return this.endpoints[this.preferred]!;
  }

  /** POSTs `body` to `path` on the first endpoint that answers; rejects with {@link EtcdUnavailableError}. */
  async call<T>(path: string, body: object): Promise<T> {
    const reasons: string[] = [];
    for (let i = 0; i < this.endpoints.length; i++) {
      const index = (this.preferred + i) % this.endpoints.length;
      const endpoint = this.endpoints[index]!;
      try {
        const res = await request(`${endpoint}${path}`, {
          method: 'POST',
          body: JSON.stringify(body),
          headers: { 'content-type': 'application/json' },
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        const text = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
        this.preferred = index;
        return JSON.parse(text) as T;
      } catch (err) {
        reasons.push(`${endpoint}: ${(err as Error).message}`);
      }
    }
    throw new EtcdUnavailableError(reasons);
  }

  /** One key, or null when it does not exist; with the cluster's revision at the time of the read. */
  async getWithRevision(key: string): Promise<{ kv: EtcdKv | null; revision: number }> {
    const r = await this.call<{ header?: { revision?: string }; kvs?: RawKv[] }>('/v3/kv/range', { key: b64(key) });
    return { kv: r.kvs?.[0] === undefined ? null : toKv(r.kvs[0]), revision: Number(r.header?.revision ?? 0) };
  }

  /** One key, or null. */
  async get(key: string): Promise<EtcdKv | null> {
    return (await this.getWithRevision(key)).kv;
  }

  /** Every key under `prefix`, with the cluster's revision at the time of the read. */
  async getPrefix(prefix: string): Promise<{ kvs: EtcdKv[]; revision: number }> {
    const r = await this.call<{ header?: { revision?: string }; kvs?: RawKv[] }>('/v3/kv/range', { key: b64(prefix), range_end: b64RangeEnd(prefix) });
    return { kvs: (r.kvs ?? []).map(toKv), revision: Number(r.header?.revision ?? 0) };
  }

  /** Writes a key; resolves with the cluster revision of the write. */
  async put(key: string, value: string, lease?: string): Promise<number> {
    const r = await this.call<{ header?: { revision?: string } }>('/v3/kv/put', { key: b64(key), value: b64(value), ...(lease === undefined ? {} : { lease }) });
    return Number(r.header?.revision ?? 0);
  }

  /**
   * Writes a key only if its last change is still `modRevision` (0: only if it does not
   * exist): two pushes racing cannot overwrite each other unseen. Resolves with the new
   * revision, or null when the key had moved on.
   */
  async putIfUnchanged(key: string, value: string, modRevision: number): Promise<number | null> {
    const r = await this.call<{ header?: { revision?: string }; succeeded?: boolean }>('/v3/kv/txn', {
      compare: [{ key: b64(key), target: 'MOD', result: 'EQUAL', mod_revision: String(modRevision) }],
      success: [{ request_put: { key: b64(key), value: b64(value) } }],
    });
    return r.succeeded === true ? Number(r.header?.revision ?? 0) : null;
  }

  /** Deletes a key (or every key under it with `prefix`). */
  async delete(key: string, prefix = false): Promise<void> {
    await this.call('/v3/kv/deleterange', { key: b64(key), ...(prefix ? { range_end: b64RangeEnd(key) } : {}) });
  }

  /** Grants a lease of `ttlS` seconds; resolves with its id. */
  async grantLease(ttlS: number): Promise<string> {
    const r = await this.call<{ ID?: string }>('/v3/lease/grant', { TTL: String(ttlS) });
    if (r.ID === undefined) throw new Error('etcd: lease grant answered without an ID');
    return r.ID;
  }

  /** Renews a lease; resolves false when etcd no longer knows it (expired). */
  async keepAlive(id: string): Promise<boolean> {
    const r = await this.call<{ result?: { TTL?: string } }>('/v3/lease/keepalive', { ID: id });
    return Number(r.result?.TTL ?? 0) > 0;
  }

  /** Revokes a lease (its keys are deleted). */
  async revokeLease(id: string): Promise<void> {
    await this.call('/v3/lease/revoke', { ID: id });
  }

  /**
   * Watches `key` (or every key under it with `prefix`) from `startRevision` on.
   * `onEvents` gets each batch of changes in order; `onError` is told when the stream
   * ends or cannot be opened (the watch then ends: the caller decides when to re-read and
   * watch again, which is also how a compacted revision is recovered from). A watch etcd
   * cancelled ends with {@link EtcdWatchCanceledError}; any other failure also moves
   * {@link endpoint} on to the next member. Returns a function that stops the watch.
   */
  watch(key: string, startRevision: number, onEvents: (events: EtcdEvent[], revision: number) => void, onError: (err: Error) => void, prefix = false): () => void {
    const abort = new AbortController();
    const endpoint = this.endpoints[this.preferred]!;
    const create = {
      create_request: {
        key: b64(key),
        ...(prefix ? { range_end: b64RangeEnd(key) } : {}),
        start_revision: String(startRevision),
      },
    };
    let ended = false;
    const end = (err: Error) => {
      if (ended) return;
      ended = true;
      if (!abort.signal.aborted) {
        // The endpoint failed the watch: the next call (the caller's read) starts at the next one.
        if (!(err instanceof EtcdWatchCanceledError) && this.endpoints[this.preferred] === endpoint) this.preferred = (this.preferred + 1) % this.endpoints.length;
        onError(err);
      }
      abort.abort();
    };
    void (async () => {
      const res = await request(`${endpoint}/v3/watch`, {
        method: 'POST',
        body: JSON.stringify(create),
        headers: { 'content-type': 'application/json' },
        signal: abort.signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: 0,
      });
      if (res.statusCode !== 200) throw new Error(`watch: HTTP ${res.statusCode}`);
      for await (const line of jsonLines(res.body)) {
        const msg = line as WatchMessage;
        if (msg.error !== undefined) throw new Error(`watch: ${msg.error.message ?? 'error'}`);
        const result = msg.result;
        if (result === undefined) continue;
        if (result.canceled === true || result.compact_revision !== undefined) {
          throw new EtcdWatchCanceledError(result.cancel_reason, result.compact_revision === undefined ? undefined : Number(result.compact_revision));
        }
        const events = (result.events ?? []).map((e) => ({ type: e.type === 'DELETE' ? ('delete' as const) : ('put' as const), kv: toKv(e.kv ?? {}) }));
        if (events.length > 0) onEvents(events, Number(result.header?.revision ?? 0));
      }
      throw new Error('watch: the stream ended');
    })().catch((err: unknown) => end(err instanceof Error ? err : new Error(String(err))));
    return () => {
      ended = true;
      abort.abort();
    };
  }
}
