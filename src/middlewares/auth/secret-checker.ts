/**
 * Checking presented secrets (API keys, passwords) against scrypt hashes without letting
 * the checks become the cheapest way to overload the gateway: results are remembered for
 * a minute (keyed by a keyed hash of the credentials, so the plain secrets are never kept),
 * and at most a few scrypt computations run at once.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { Gate, TtlCache } from './cache.js';
import { verifySecretAsync, type ParsedHash } from './secrets.js';

/** How long a check's result is reused. The middleware is rebuilt on reload, so a changed key file takes effect at once anyway. */
const RESULT_TTL_MS = 60_000;
const RESULT_CACHE_SIZE = 10_000;
/** Two cores: two scrypt checks at once leave the rest of libuv's pool to DNS and files. */
const CONCURRENT_CHECKS = 2;
/** Past this many waiting checks, a check is refused (503) rather than queued. */
const MAX_WAITING = 256;

export class SecretChecker<R> {
  readonly #results = new TtlCache<R>(RESULT_CACHE_SIZE);
  readonly #gate = new Gate(CONCURRENT_CHECKS, MAX_WAITING);
  /** Per process and config version: cache keys cannot be precomputed or compared elsewhere. */
  readonly #hmacKey = randomBytes(32);

  /** A cache key for the given credential parts. */
  key(...parts: readonly string[]): string {
    const h = createHmac('sha256', this.#hmacKey);
    for (const part of parts) h.update(part, 'utf8').update('\0');
    return h.digest('base64url');
  }

  /** The remembered result for `key`, or undefined. */
  remembered(key: string): R | undefined {
    return this.#results.get(key);
  }

  remember(key: string, result: R): void {
    this.#results.set(key, result, RESULT_TTL_MS);
  }

  /** Whether `secret` matches `hash`; undefined when too many checks are waiting. */
  verify(secret: string, hash: ParsedHash): Promise<boolean | undefined> {
    if (hash.kind === 'sha256') return verifySecretAsync(secret, hash);
    return this.#gate.run(() => verifySecretAsync(secret, hash));
  }
}
