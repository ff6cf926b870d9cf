/**
 * Capture: watches a forwarded request's response as it streams to the client and stores
 * it when RFC 9111 allows; completes a stored response with a 304 (§4.3.4) or a HEAD
 * (§4.3.5); replaces a 5xx or a failure with a stale copy (stale-if-error).
 */
import type { ErrorCode } from '../../core/errors.js';
import { connectionListedNames, isResponseHopByHop } from '../../core/hop-by-hop.js';
import type { Answer, RequestContext, ResponseObserver, RetryVerdict } from '../../core/middleware.js';
import type { FlightOutcome } from './collapsing.js';
import { makeEntry, refresh, type StoredResponse } from './entry.js';
import { CONFLICT, currentAge, fieldList, headerValue, joinedValue, parseAge, unstorableReason, type PolicyOptions } from './freshness.js';
import type { CacheConfig } from './schema.js';
import type { MemoryStore } from './store.js';
import { etagListMatches, isConditional, removeValidators, stripWeak, type ValidatorEdit } from './validators.js';
import { varyValue } from './variants.js';

/**
 * Stored-header updates from a 304 leave these alone (RFC 9111 §3.2: Content-Length; Age
 * is recomputed). Brisk stores the bytes as received, so Content-Type and
 * Content-Encoding are updated like any other field.
 */
const NOT_UPDATED = new Set(['content-length', 'transfer-encoding', 'age']);
const EMPTY = Buffer.alloc(0);

/** What a capture needs from its route cache (`CacheMiddleware` is one). */
export interface CaptureHost {
  readonly config: CacheConfig;
  readonly policyOptions: PolicyOptions;
  /** The route answers CORS itself: the target's own CORS fields are not stored. */
  readonly gatewayCors: boolean;
  readonly memory: MemoryStore;
  /** The answer from a stored response (see `CacheMiddleware.serve`). */
  serve(ctx: RequestContext | null, e: StoredResponse, age: number, label: string, detail: string, validated: boolean, fwdStatus?: number): Answer;
  /** The stale answer stale-if-error allows for this entry now, or null. */
  staleIfErrorAnswer(ctx: RequestContext | null, e: StoredResponse, now: number, why: string): Answer | null;
  /** Adds the status header and Cache-Status to the forwarded response. */
  addStatus(ctx: RequestContext, label: string, detail: string): void;
  /** Stores a response in every tier. */
  store(e: StoredResponse): void;
  /** Ends the collapsed flight this capture leads, if it leads one. */
  release(key: string, outcome: FlightOutcome, leader: boolean): void;
}

/**
 * Watches a forwarded request's response as it streams to the client, and stores it
 * when RFC 9111 allows. Buffers at most `maxObjectSize` of the body; past it the
 * response keeps streaming and is not stored.
 */
export class Capture implements ResponseObserver {
  private readonly requestTime = Date.now();
  private entry: StoredResponse | null = null;
  private chunks: Buffer[] | null = null;
  private bytes = 0;
  private stored = false;
  /** The response was judged and found not storable (not merely failed). */
  private uncacheable = false;
  requestHeaders: readonly string[];
  onDone: (() => void) | null = null;
  /** The stale copy found when a 5xx head arrived (`retryVerdict`), answered by `onHead`. */
  private staleForError: Answer | null = null;
  /** The request was sent again without the cache's validators. */
  private resent = false;

  constructor(
    private readonly cache: CaptureHost,
    private readonly ctx: RequestContext | null,
    private readonly key: string,
    private readonly requestNoStore: boolean,
    private readonly auth: boolean,
    /** The stored entry whose validators were sent. */
    private readonly validating: StoredResponse | null,
    /** How its validators were put on the request headers (`headers`: the list sent upstream). */
    private readonly revalidation: { readonly edit: ValidatorEdit; readonly headers: string[] } | null,
    /** The stale entry stale-if-error may serve. */
    private readonly fallback: StoredResponse | null,
    private readonly leader: boolean,
    private readonly label: string,
    private readonly detail: string,
  ) {
    this.requestHeaders = ctx === null ? [] : ctx.rawHeaders;
  }

  onHead(status: number, text: string, rawHeaders: Buffer[]): Answer | null {
    const cache = this.cache;
    const now = Date.now();
    if (status === 304 && this.validating !== null) {
      const updated = this.update(rawHeaders, now);
      if (updated !== null) return cache.serve(this.ctx, updated, currentAge(updated, now), 'REVALIDATED', this.detail === '' ? 'fwd=stale' : this.detail, false, 304);
      // Asked again without our validators and still a 304 (or it could not be asked
      // again): the client wants a whole response and there is none to give.
      if (this.unusable304(rawHeaders)) {
        if (this.ctx !== null) cache.addStatus(this.ctx, this.label, `${this.detail}; detail=unmatched-304`);
        return { status: 502, code: 'BRISK_UPSTREAM_BAD_RESPONSE', message: 'the target answered 304 Not Modified for a response the cache does not hold (RFC 9111 §4.3.4) to a request that needs the whole response' };
      }
    }
    if (status >= 500) {
      const stale = this.staleForError ?? this.staleIfError(now, `fwd-status=${status}`);
      if (stale !== null) return stale;
    }
    // RFC 9111 §4.3.5: a HEAD response freshens (or invalidates) the stored GET it describes.
    if (status === 200 && this.fallback !== null && this.ctx?.method === 'HEAD') this.update(rawHeaders, now, this.fallback, true);
    const { headers, age } = storedHeaders(rawHeaders, this.cache.gatewayCors);
    // RFC 9110 §6.6.1: a cache adds the Date the origin should have sent.
    if (headerValue(headers, 'date') === undefined) headers.push('date', new Date(now).toUTCString());
    const options = cache.policyOptions;
    const varyHeader = joinedValue(headers, 'vary');
    const varyNames = varyHeader === undefined ? null : fieldList(varyHeader);
    const e = makeEntry(this.key, status, text, headers, EMPTY, this.requestTime, now, varyNames, varyNames === null ? [] : varyNames.map((n) => varyValue(this.requestHeaders, n)), options, parseAge(age));
    const method = this.ctx === null ? 'GET' : this.ctx.method;
    let reason = unstorableReason(method, status, e.policy, headers, this.auth, this.requestNoStore, cache.config.allowSetCookie);
    const length = headerValue(headers, 'content-length');
    if (reason === null && length !== undefined && Number(length) > cache.config.maxObjectSize) reason = 'too large';
    if (reason === null && status === 304) reason = 'status';
    if (reason === null) {
      // RFC 9111 §5.2.2.7: `private="a, b"`: the response may be stored without those fields.
      const priv = e.policy.cc.get('private');
      if (typeof priv === 'string' && priv !== CONFLICT) {
        const names = fieldList(priv);
        for (let i = e.headers.length - 2; i >= 0; i -= 2) if (names.includes(e.headers[i]!)) e.headers.splice(i, 2);
      }
      this.entry = e;
      this.chunks = [];
    }
    this.uncacheable = reason !== null;
    if (this.ctx !== null) cache.addStatus(this.ctx, this.label, reason === null ? `${this.detail}; stored` : this.detail);
    return null;
  }

  /** RFC 9111 §4.3.4: freshens the stored response a 304 names, or null when it names none. */
  private update(rawHeaders: Buffer[], now: number, target: StoredResponse | null = this.validating, head = false): StoredResponse | null {
    const e = target!;
    const { headers } = storedHeaders(rawHeaders, this.cache.gatewayCors);
    if (headerValue(headers, 'date') === undefined) headers.push('date', new Date(now).toUTCString());
    const etag = headerValue(headers, 'etag');
    if (head) {
      // RFC 9111 §4.3.5: a HEAD response describing another representation (other
      // validator, other length) invalidates the stored GET instead of updating it.
      const length = headerValue(headers, 'content-length');
      const lm = headerValue(headers, 'last-modified');
      if ((etag !== undefined && etag !== e.etag) || (length !== undefined && Number(length) !== e.body.length) || (lm !== undefined && e.lastModified !== undefined && lm !== e.lastModified)) {
        this.cache.memory.removeVariant(e);
        return null;
      }
    } else if (!this.selects(etag)) return null;
    const before = e.size;
    const replaced = new Set<string>();
    for (let i = 0; i < headers.length; i += 2) if (!NOT_UPDATED.has(headers[i]!)) replaced.add(headers[i]!);
    const kept: string[] = [];
    for (let i = 0; i < e.headers.length; i += 2) if (!replaced.has(e.headers[i]!)) kept.push(e.headers[i]!, e.headers[i + 1]!);
    for (let i = 0; i < headers.length; i += 2) if (!NOT_UPDATED.has(headers[i]!)) kept.push(headers[i]!, headers[i + 1]!);
    e.headers = kept;
    e.requestTime = this.requestTime;
    e.responseTime = now;
    e.ageValue = parseAge(rawHeaderValue(rawHeaders, 'age'));
    refresh(e, this.cache.policyOptions);
    this.cache.memory.resized(e.size - before);
    this.cache.store(e);
    this.stored = true;
    return e;
  }

  /**
   * Before the retry policy sees a head: a 5xx that a stale copy may answer is answered
   * at once, not retried (retrying an origin that said it is failing costs it more load,
   * and stale-if-error says the copy is good enough); a 304 that revalidated nothing
   * stored is asked again without the cache's validators, so the client gets a 200.
   */
  retryVerdict(status: number, rawHeaders: Buffer[]): RetryVerdict {
    if (status >= 500) {
      this.staleForError = this.staleIfError(Date.now(), `fwd-status=${status}`);
      return this.staleForError === null ? null : 'deliver';
    }
    if (status === 304 && this.revalidation !== null && !this.resent && this.unusable304(rawHeaders)) {
      removeValidators(this.revalidation.headers, this.revalidation.edit);
      this.resent = true;
      return 'resend';
    }
    return null;
  }

  /**
   * A 304 to our revalidation that selects no stored response (RFC 9111 §4.3.4: it "MUST
   * NOT" update one) and is no answer to a condition of the client's own: it must not
   * reach the client. A background refresh has no client: any such 304 is of no use.
   */
  private unusable304(rawHeaders: Buffer[]): boolean {
    if (this.validating === null) return false;
    const etag = rawHeaderValue(rawHeaders, 'etag');
    if (this.selects(etag)) return false;
    const client = this.ctx?.rawHeaders;
    if (client === undefined || !isConditional(client)) return true;
    // Sent again with the client's conditions only: the 304 answers them.
    if (this.resent || etag === undefined) return false;
    const inm = joinedValue(client, 'if-none-match');
    return inm === undefined || !etagListMatches(inm, etag);
  }

  /** RFC 9111 §4.3.4: a 304 with this ETag (or none) selects the stored response we sent validators for. */
  private selects(etag: string | undefined): boolean {
    const e = this.validating!;
    if (etag !== undefined) return e.etag !== undefined && stripWeak(etag) === stripWeak(e.etag);
    return this.revalidation?.edit.ourValidatorOnly === true;
  }

  private staleIfError(now: number, why: string): Answer | null {
    return this.fallback === null ? null : this.cache.staleIfErrorAnswer(this.ctx, this.fallback, now, why);
  }

  onData(chunk: Buffer): void {
    const chunks = this.chunks;
    if (chunks === null) return;
    this.bytes += chunk.length;
    if (this.bytes > this.cache.config.maxObjectSize) {
      // Too large after all: keep streaming, stop buffering.
      this.chunks = null;
      this.entry = null;
      return;
    }
    chunks.push(chunk);
  }

  onError(code: ErrorCode): Answer | null {
    return this.staleIfError(Date.now(), `detail=${code}`);
  }

  onEnd(complete: boolean): void {
    const e = this.entry;
    if (e !== null && complete && this.chunks !== null) {
      const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.bytes);
      const full: StoredResponse = { ...e, body };
      refresh(full, this.cache.policyOptions);
      this.cache.store(full);
      this.stored = true;
    }
    this.chunks = null;
    this.cache.release(this.key, this.stored ? 'stored' : this.uncacheable ? 'uncacheable' : 'failed', this.leader);
    this.onDone?.();
  }
}

/** Response headers as the cache keeps them: lower-case names, no hop-by-hop fields. */
function storedHeaders(rawHeaders: Buffer[], dropCors: boolean): { headers: string[]; age: string | undefined } {
  const out: string[] = [];
  let connection: string | undefined;
  let age: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toString('latin1').toLowerCase();
    const value = rawHeaders[i + 1]!.toString('latin1');
    if (isResponseHopByHop(name)) {
      if (name === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
      continue;
    }
    if (name === 'content-length') continue;
    if (dropCors && name.startsWith('access-control-')) continue;
    if (name === 'age') {
      age ??= value;
      continue;
    }
    out.push(name, value);
  }
  if (connection !== undefined) {
    const listed = connectionListedNames(connection);
    if (listed !== null) {
      for (let i = out.length - 2; i >= 0; i -= 2) if (listed.has(out[i]!)) out.splice(i, 2);
    }
  }
  return { headers: out, age };
}

function rawHeaderValue(raw: Buffer[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toString('latin1').toLowerCase() === lowerName) return raw[i + 1]!.toString('latin1');
  return undefined;
}
