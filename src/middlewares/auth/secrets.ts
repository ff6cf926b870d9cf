/**
 * Hashing of API keys and passwords. Brisk never stores a secret itself, only one of two
 * hash forms:
 *
 * - `scrypt:N:r:p:SALT:HASH` (salt and hash base64url): for passwords and any secret a
 *   person chose. Slow on purpose, so a leaked config does not give the passwords away.
 * - `sha256:HEX`: for machine-made API keys with at least 128 bits of randomness. Such
 *   keys cannot be guessed, so a slow hash adds nothing, and a plain digest lets the key
 *   be found by a map lookup instead of trying every stored hash.
 *
 * node:crypto does both; no library is needed.
 */
import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

/** The scrypt cost used by {@link hashSecret}: about 16 MiB and tens of milliseconds per check. */
export const SCRYPT_DEFAULTS = { N: 16384, r: 8, p: 1, keyLength: 32, saltLength: 16 } as const;

/**
 * Bounds on the scrypt parameters a hash may carry. A hash comes from the config file, and
 * a hand-edited `N` of 2^30 would make every login allocate a gigabyte; past these the
 * hash is refused when the config is loaded.
 */
export const SCRYPT_LIMITS = { maxN: 2 ** 20, maxR: 32, maxP: 16, maxMemory: 256 * 1024 * 1024 } as const;

/** A parsed hash. */
export type ParsedHash =
  | { readonly kind: 'scrypt'; readonly N: number; readonly r: number; readonly p: number; readonly salt: Buffer; readonly hash: Buffer }
  | { readonly kind: 'sha256'; readonly hash: Buffer };

const B64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Parses a stored hash; the reason when it is not one Brisk can check.
 *
 * @example
 * parseHash('sha256:' + 'ab'.repeat(32)) // { ok: true, value: { kind: 'sha256', hash: <Buffer ab ab …> } }
 */
export function parseHash(text: string): { ok: true; value: ParsedHash } | { ok: false; reason: string } {
  if (text.startsWith('sha256:')) {
    const hex = text.slice(7);
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) return { ok: false, reason: 'a sha256 hash is "sha256:" and 64 hex digits' };
    return { ok: true, value: { kind: 'sha256', hash: Buffer.from(hex, 'hex') } };
  }
  if (text.startsWith('scrypt:')) {
    const parts = text.split(':');
    if (parts.length !== 6) return { ok: false, reason: 'a scrypt hash is "scrypt:N:r:p:SALT:HASH"' };
    const [, nText, rText, pText, saltText, hashText] = parts as [string, string, string, string, string, string];
    if (!/^\d{1,8}$/.test(nText) || !/^\d{1,3}$/.test(rText) || !/^\d{1,3}$/.test(pText)) return { ok: false, reason: 'scrypt N, r and p must be whole numbers' };
    const N = Number(nText);
    const r = Number(rText);
    const p = Number(pText);
    if (N < 2 || (N & (N - 1)) !== 0 || N > SCRYPT_LIMITS.maxN) return { ok: false, reason: `scrypt N must be a power of two from 2 to ${SCRYPT_LIMITS.maxN}` };
    if (r < 1 || r > SCRYPT_LIMITS.maxR || p < 1 || p > SCRYPT_LIMITS.maxP) return { ok: false, reason: `scrypt r must be 1-${SCRYPT_LIMITS.maxR} and p 1-${SCRYPT_LIMITS.maxP}` };
    if (128 * N * r > SCRYPT_LIMITS.maxMemory) return { ok: false, reason: 'scrypt N × r needs more than 256 MiB per check' };
    if (!B64URL.test(saltText) || !B64URL.test(hashText)) return { ok: false, reason: 'scrypt salt and hash must be base64url' };
    const salt = Buffer.from(saltText, 'base64url');
    const hash = Buffer.from(hashText, 'base64url');
    if (salt.length < 8) return { ok: false, reason: 'scrypt salt must be at least 8 bytes' };
    if (hash.length < 16 || hash.length > 64) return { ok: false, reason: 'scrypt hash must be 16 to 64 bytes' };
    return { ok: true, value: { kind: 'scrypt', N, r, p, salt, hash } };
  }
  return { ok: false, reason: 'expected "scrypt:N:r:p:SALT:HASH" or "sha256:HEX" (make one with `brisk hash-key`)' };
}

/**
 * Hashes a secret for the config file. `scrypt` (the default) for passwords and chosen
 * secrets; `sha256` only for random API keys of 128 bits or more.
 *
 * @example
 * const line = `ci-bot:${hashSecret(apiKey, 'sha256')}`; // a line of an API key file
 * hashSecret('correct horse battery staple')             // 'scrypt:16384:8:1:…:…'
 */
export function hashSecret(secret: string, algorithm: 'scrypt' | 'sha256' = 'scrypt'): string {
  if (algorithm === 'sha256') return `sha256:${createHash('sha256').update(secret, 'utf8').digest('hex')}`;
  const { N, r, p, keyLength, saltLength } = SCRYPT_DEFAULTS;
  const salt = randomBytes(saltLength);
  const hash = scryptSync(secret, salt, keyLength, { N, r, p, maxmem: scryptMemory(N, r) });
  return `scrypt:${N}:${r}:${p}:${salt.toString('base64url')}:${hash.toString('base64url')}`;
}

/**
 * Whether `secret` matches `hash`, comparing in constant time. False (never a throw) for
 * a hash that does not parse. Synchronous: for the CLI and tests; the gateway uses
 * {@link verifySecretAsync} so a scrypt check does not stall the event loop.
 *
 * @example
 * verifySecret('s3cret', hashSecret('s3cret')) // true
 */
export function verifySecret(secret: string, hash: string | ParsedHash): boolean {
  const parsed = typeof hash === 'string' ? parseHash(hash) : { ok: true as const, value: hash };
  if (!parsed.ok) return false;
  const h = parsed.value;
  if (h.kind === 'sha256') return timingSafeEqual(sha256(secret), h.hash);
  const derived = scryptSync(secret, h.salt, h.hash.length, { N: h.N, r: h.r, p: h.p, maxmem: scryptMemory(h.N, h.r) });
  return timingSafeEqual(derived, h.hash);
}

/**
 * {@link verifySecret} with the scrypt work on the libuv thread pool.
 *
 * @example
 * if (await verifySecretAsync(password, user.hash)) allow();
 */
export function verifySecretAsync(secret: string, hash: ParsedHash): Promise<boolean> {
  if (hash.kind === 'sha256') return Promise.resolve(timingSafeEqual(sha256(secret), hash.hash));
  return new Promise((resolve, reject) => {
    scrypt(secret, hash.salt, hash.hash.length, { N: hash.N, r: hash.r, p: hash.p, maxmem: scryptMemory(hash.N, hash.r) }, (error, derived) => {
      if (error !== null) reject(error);
      else resolve(timingSafeEqual(derived, hash.hash));
    });
  });
}

/** SHA-256 of a UTF-8 string. */
export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Node refuses scrypt above 32 MiB unless told; give it what the parameters need, plus slack. */
function scryptMemory(N: number, r: number): number {
  return 128 * N * r + 1024 * 1024;
}
