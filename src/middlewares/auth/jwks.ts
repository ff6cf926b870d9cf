/**
 * The JSON Web Key Set of an issuer, fetched over HTTP and kept.
 *
 * Written here rather than using jose's `createRemoteJWKSet` for one reason: once its
 * cache is older than `cacheMaxAge`, jose fetches before answering and fails every token
 * while the endpoint is down. A gateway must keep accepting tokens signed with keys it
 * already has, so this cache serves what it holds and refreshes in the background
 * (stale-while-revalidate). Key selection and import are still jose's
 * (`createLocalJWKSet`).
 */
import { createLocalJWKSet, errors, type CryptoKey, type JSONWebKeySet, type JWK, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose';
import { request } from '../../core/undici.js';
import type { Logger } from '../../observability/logger.js';

type Resolver = ReturnType<typeof createLocalJWKSet>;

/** The JWKS endpoint has never given keys (or gave none that can verify): the request gets 503. */
export class JwksUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JwksUnavailableError';
  }
}

export interface JwksOptions {
  readonly url: string;
  /** Age after which the keys are refreshed in the background. */
  readonly cacheTtlMs: number;
  readonly timeoutMs: number;
  /** Least time between two fetches caused by unknown `kid`s or staleness. */
  readonly refreshCooldownMs: number;
  readonly logger: Logger;
  /** Largest JWKS document accepted. */
  readonly maxBytes?: number;
  readonly now?: () => number;
}

/**
 * After a failed fetch with no keys at hand, requests get 503 at once for this long rather
 * than each waiting for another timeout: a down endpoint must not slow every request.
 */
const FAILURE_BACKOFF_MS = 1000;

/** Real key sets are a few kilobytes; this bound keeps a broken endpoint from filling memory. */
const DEFAULT_MAX_BYTES = 512 * 1024;

/**
 * Keys from one JWKS URL, shared by every request of a route.
 *
 * @example
 * const jwks = new JwksCache({ url, cacheTtlMs: 600_000, timeoutMs: 2000, refreshCooldownMs: 10_000, logger });
 * jwks.warm();
 * await jwtVerify(token, (header, token) => jwks.getKey(header, token), { algorithms: ['RS256'] });
 */
export class JwksCache {
  readonly #options: JwksOptions;
  readonly #now: () => number;
  readonly #closed = new AbortController();
  #resolver: Resolver | null = null;
  #keyCount = 0;
  #fetchedAt = 0;
  #lastAttempt = Number.NEGATIVE_INFINITY;
  #lastFailure = Number.NEGATIVE_INFINITY;
  #inflight: Promise<boolean> | null = null;
  #failing = false;
  /** How many fetches were made (for tests and the admin API). */
  fetches = 0;

  constructor(options: JwksOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Starts the first fetch, so that the first request does not wait for it. */
  warm(): void {
    void this.#refresh();
  }

  /** Whether keys are at hand. */
  get ready(): boolean {
    return this.#resolver !== null;
  }

  /**
   * The key for a token's header: jose's selection by `alg` and `kid` over the keys held.
   * A `kid` not among them triggers one refetch (key rotation), at most once per cooldown.
   * Throws {@link JwksUnavailableError} when no key set was ever fetched, and jose's
   * errors (`JWKSNoMatchingKey`, `JWKSMultipleMatchingKeys`) otherwise.
   */
  async getKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> {
    const now = this.#now();
    if (this.#resolver === null) {
      if (this.#inflight === null && now - this.#lastFailure < FAILURE_BACKOFF_MS) throw new JwksUnavailableError(`no keys from ${this.#options.url} yet (the last fetch failed)`);
      await this.#refresh();
      if (this.#resolver === null) throw new JwksUnavailableError(`no keys from ${this.#options.url}`);
    } else if (now - this.#fetchedAt >= this.#options.cacheTtlMs && this.#mayFetch(now)) {
      void this.#refresh();
    }
    try {
      return await (this.#resolver as Resolver)(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || !this.#mayFetch(this.#now())) throw error;
      await this.#refresh();
      return await (this.#resolver as Resolver)(header, token);
    }
  }

  /** Aborts a fetch under way; the cache answers 503 from then on. */
  close(): void {
    this.#closed.abort();
  }

  #mayFetch(now: number): boolean {
    return this.#inflight !== null || now - this.#lastAttempt >= this.#options.refreshCooldownMs;
  }

  /** One fetch at a time; callers arriving meanwhile share it. Never rejects. */
  #refresh(): Promise<boolean> {
    if (this.#closed.signal.aborted) return Promise.resolve(false);
    this.#inflight ??= this.#fetch().finally(() => {
      this.#inflight = null;
    });
    return this.#inflight;
  }

  async #fetch(): Promise<boolean> {
    this.#lastAttempt = this.#now();
    this.fetches++;
    const { url, timeoutMs, logger } = this.#options;
    try {
      const jwks = await fetchJson(url, timeoutMs, this.#options.maxBytes ?? DEFAULT_MAX_BYTES, this.#closed.signal);
      const usable = publicSigningKeys(jwks);
      this.#resolver = createLocalJWKSet({ keys: usable });
      this.#keyCount = usable.length;
      this.#fetchedAt = this.#now();
      if (usable.length === 0) logger.warn({ jwksUrl: url }, 'JWKS holds no public signing keys: every token is refused');
      if (this.#failing) logger.info({ jwksUrl: url, keys: usable.length }, 'JWKS endpoint answers again');
      this.#failing = false;
      return true;
    } catch (error) {
      this.#lastFailure = this.#now();
      if (this.#closed.signal.aborted) return false;
      // Logged once per outage, not once per request.
      if (!this.#failing) {
        logger.warn(
          { jwksUrl: url, err: (error as Error).message, keptKeys: this.#keyCount, haveKeys: this.#resolver !== null },
          this.#resolver === null ? 'JWKS fetch failed and no keys are at hand: tokens get 503' : 'JWKS fetch failed: the keys already fetched stay in use',
        );
      }
      this.#failing = true;
      return false;
    }
  }
}

/**
 * The keys of a set that can verify signatures: public (no private parts), asymmetric,
 * not marked for encryption. A set that mixes in other keys still yields its good ones.
 */
function publicSigningKeys(value: unknown): JWK[] {
  if (value === null || typeof value !== 'object' || !Array.isArray((value as JSONWebKeySet).keys)) throw new Error('not a JSON Web Key Set (no "keys" array)');
  return (value as JSONWebKeySet).keys.filter(
    (k): k is JWK =>
      k !== null &&
      typeof k === 'object' &&
      (k.kty === 'RSA' || k.kty === 'EC' || k.kty === 'OKP') &&
      k.d === undefined &&
      (k.use === undefined || k.use === 'sig'),
  );
}

/** GETs a JSON document with a deadline and a size bound. */
async function fetchJson(url: string, timeoutMs: number, maxBytes: number, closed: AbortSignal): Promise<unknown> {
  const signal = AbortSignal.any([closed, AbortSignal.timeout(timeoutMs)]);
  const res = await request(url, {
    method: 'GET',
    headers: { accept: 'application/jwk-set+json, application/json' },
    signal,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new Error(`answered ${res.statusCode}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      // Leaving the loop by a throw destroys the body through the iterator, which handles its abort error.
      throw new Error(`document larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new Error('not JSON');
  }
}
