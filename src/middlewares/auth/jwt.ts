/**
 * Bearer JSON Web Tokens, verified by jose. What Brisk adds around jose is the refusal of
 * obviously hostile input before any decoding (size, shape), keys that cannot be used
 * for the wrong algorithm family (a shared secret is a `Uint8Array`, a public key a
 * `KeyObject`, and jose refuses a public key for HS*: the classic "HS256 signed with the
 * RSA public key" confusion), and the mapping of failures to 401 or 503.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { errors, jwtVerify, type CryptoKey, type JWTPayload, type JWTVerifyOptions, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose';
import type { Answer, RequestContext } from '../../core/middleware.js';
import type { Logger } from '../../observability/logger.js';
import { cookieValues, headerValues, quoted, removeCookie, removeHeaders } from './headers.js';
import { JwksCache, JwksUnavailableError } from './jwks.js';
import type { JwtConfig } from './schema.js';
import type { AuthMethod, Found, Outcome } from './types.js';

/** Compact JWS: three non-empty base64url parts. `alg: none` tokens (empty signature) fail here already. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const BEARER = /^Bearer +([^\s]+) *$/i;

/**
 * With several JWKS keys matching a token (no `kid`, same `alg`), each is tried; this
 * bounds the signature checks one token can cost.
 */
const MAX_CANDIDATE_KEYS = 4;
/** How long a verified token is trusted without checking its signature again. */
const VERIFIED_TTL_MS = 60_000;
/** Most verified tokens remembered per route. */
const VERIFIED_MAX = 10_000;

type KeyGetter = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey | KeyObject | Uint8Array>;

/** The JWT method of a route. */
export class JwtMethod implements AuthMethod<string> {
  readonly name = 'jwt';
  readonly challenge: string;
  readonly #config: JwtConfig;
  readonly #logger: Logger;
  readonly #getKey: KeyGetter | KeyObject | Uint8Array;
  readonly #options: JWTVerifyOptions;
  readonly #realm: string;
  /** Set when the keys come from a JWKS URL. */
  readonly jwks: JwksCache | null = null;

  /**
   * @example
   * const jwt = new JwtMethod(config.jwt, logger, 'brisk');
   * const found = jwt.find(ctx);
   * if (found.kind === 'present') await jwt.check(found.credentials, ctx);
   */
  constructor(config: JwtConfig, logger: Logger, realm: string) {
    this.#config = config;
    this.#logger = logger;
    this.#realm = realm;
    this.challenge = `Bearer realm=${quoted(realm)}`;
    const key = config.key;
    if (key.kind === 'secret') this.#getKey = new TextEncoder().encode(key.secret);
    else if (key.kind === 'pem') this.#getKey = createPublicKey(key.pem);
    else {
      const jwks = new JwksCache({ url: key.url, cacheTtlMs: config.cacheTtlMs, timeoutMs: config.timeoutMs, refreshCooldownMs: config.refreshCooldownMs, logger });
      this.jwks = jwks;
      this.#getKey = (header, token) => jwks.getKey(header, token);
      jwks.warm();
    }
    this.#options = {
      algorithms: [...config.algorithms],
      ...(config.issuer === null ? {} : { issuer: [...config.issuer] }),
      ...(config.audience === null ? {} : { audience: [...config.audience] }),
      clockTolerance: config.clockSkewMs / 1000,
      requiredClaims: [...new Set([...(config.requireExp ? ['exp'] : []), ...config.requiredClaims])],
    };
  }

  find(ctx: RequestContext): Found<string> {
    const c = this.#config;
    let token: string;
    if (c.cookie !== null) {
      const values = cookieValues(ctx.rawHeaders, c.cookie);
      if (values.length === 0) return ABSENT;
      if (values.length > 1) return { kind: 'bad', reason: `cookie ${c.cookie} is sent more than once` };
      token = values[0]!;
    } else if (c.header === 'authorization') {
      const values = headerValues(ctx.rawHeaders, 'authorization');
      // The middleware refuses duplicate Authorization headers before asking any method.
      const value = values[0];
      if (value === undefined || !/^bearer(\s|$)/i.test(value)) return ABSENT;
      const m = BEARER.exec(value);
      if (m === null) return { kind: 'bad', reason: 'malformed Bearer credentials' };
      token = m[1]!;
    } else {
      const values = headerValues(ctx.rawHeaders, c.header!);
      if (values.length === 0) return ABSENT;
      if (values.length > 1) return { kind: 'bad', reason: `header ${c.header} is sent more than once` };
      token = values[0]!.trim().replace(/^Bearer +/i, '');
    }
    if (token === '') return { kind: 'bad', reason: 'empty token' };
    // Refused before decoding: a huge token costs base64 and JSON work for nothing.
    if (token.length > c.maxTokenSize) return { kind: 'bad', reason: `token longer than ${c.maxTokenSize} bytes` };
    if (!COMPACT_JWS.test(token)) return { kind: 'bad', reason: 'malformed token (not three base64url parts)' };
    return { kind: 'present', credentials: token };
  }

  check(token: string, ctx: RequestContext): Outcome | Promise<Outcome> {
    const cached = this.#verified.get(token);
    if (cached !== undefined) {
      const now = Date.now();
      if (now < cached.until) {
        // The signature and the claims were checked; only time moves: exp and nbf again.
        if (now <= cached.expiresAt && now >= cached.notBefore) return cached.outcome;
      }
      this.#verified.delete(token);
    }
    return this.#checkFully(token, ctx);
  }

  async #checkFully(token: string, ctx: RequestContext): Promise<Outcome> {
    let payload: JWTPayload;
    try {
      payload = await this.#verify(token);
    } catch (error) {
      return { ok: false, answer: this.#failure(error, ctx) };
    }
    const sub = payload[this.#config.subjectClaim];
    const subject = typeof sub === 'string' ? sub : typeof sub === 'number' ? String(sub) : '';
    const outcome: Outcome = { ok: true, identity: { method: 'jwt', subject, claims: payload } };
    this.#remember(token, payload, outcome);
    return outcome;
  }

  /**
   * Verified tokens, by their exact text, for at most VERIFIED_TTL_MS: a client sends the
   * same token on every request, and verifying a signature each time (an HMAC, or an RSA
   * or EC verification) costs more than the rest of the gateway's work on the request.
   * exp and nbf are checked again on every use; a key removed from the JWKS stops being
   * trusted within the TTL. Bounded: the oldest entries go first.
   */
  readonly #verified = new Map<string, { outcome: Outcome; until: number; expiresAt: number; notBefore: number }>();

  #remember(token: string, payload: JWTPayload, outcome: Outcome): void {
    const now = Date.now();
    const skew = this.#config.clockSkewMs;
    const expiresAt = typeof payload.exp === 'number' ? payload.exp * 1000 + skew : Number.POSITIVE_INFINITY;
    const notBefore = typeof payload.nbf === 'number' ? payload.nbf * 1000 - skew : 0;
    if (this.#verified.size >= VERIFIED_MAX) this.#verified.delete(this.#verified.keys().next().value as string);
    this.#verified.set(token, { outcome, until: now + VERIFIED_TTL_MS, expiresAt, notBefore });
  }

  /** The 401 for credentials that are there but wrong before any verification (`bad`). */
  refuse(reason: string, ctx: RequestContext): Answer {
    return this.#unauthorized('invalid bearer token', reason, ctx);
  }

  hide(ctx: RequestContext): void {
    if (this.#config.cookie !== null) removeCookie(ctx.upstreamHeaders, this.#config.cookie);
    else removeHeaders(ctx.upstreamHeaders, new Set([this.#config.header!]));
  }

  close(): void {
    this.jwks?.close();
  }

  async #verify(token: string): Promise<JWTPayload> {
    try {
      return (await jwtVerify(token, this.#getKey as KeyGetter, this.#options)).payload;
    } catch (error) {
      if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
      // The set has several keys the token could be for: try each, a bounded number.
      let last: unknown = error;
      let tried = 0;
      for await (const key of error as errors.JWKSMultipleMatchingKeys & AsyncIterable<CryptoKey>) {
        if (++tried > MAX_CANDIDATE_KEYS) break;
        try {
          return (await jwtVerify(token, key, this.#options)).payload;
        } catch (inner) {
          // Only a wrong signature means "another key"; a claim failure is final.
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
          last = inner;
        }
      }
      throw last;
    }
  }

  #failure(error: unknown, ctx: RequestContext): Answer {
    if (error instanceof JwksUnavailableError) {
      this.#logger.warn({ requestId: ctx.requestId, route: ctx.routeName, err: error.message }, 'JWT not checked: no JWKS keys');
      return {
        status: 503,
        code: 'BRISK_AUTH_UNAVAILABLE',
        message: 'the keys to check the token cannot be fetched right now; retry later',
        headers: ['retry-after', '1'],
      };
    }
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    if (error instanceof errors.JWTExpired) return this.#unauthorized('bearer token expired', reason, ctx);
    if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'nbf') return this.#unauthorized('bearer token not yet valid', reason, ctx);
    // Anything else — bad signature, wrong issuer, unknown key, a key of the wrong type
    // (jose throws a TypeError for algorithm confusion) — is the same 401 to the client:
    // the details would only help someone probing.
    return this.#unauthorized('invalid bearer token', reason, ctx);
  }

  #unauthorized(message: string, reason: string, ctx?: RequestContext): Answer {
    if (ctx !== undefined) this.#logger.debug({ requestId: ctx.requestId, route: ctx.routeName, reason }, 'JWT refused');
    return {
      status: 401,
      code: 'BRISK_UNAUTHORIZED',
      message,
      headers: ['www-authenticate', `Bearer realm=${quoted(this.#realm)}, error="invalid_token", error_description=${quoted(message)}`],
    };
  }
}

const ABSENT: Found<never> = { kind: 'absent' };
