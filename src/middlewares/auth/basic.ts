/**
 * HTTP Basic authentication (RFC 7617) against hashed passwords.
 */
import type { Answer, RequestContext } from '../../core/middleware.js';
import type { Logger } from '../../observability/logger.js';
import { overloaded } from './api-keys.js';
import { headerValues, quoted, removeHeaders } from './headers.js';
import type { BasicConfig } from './schema.js';
import { SecretChecker } from './secret-checker.js';
import { parseHash, type ParsedHash } from './secrets.js';
import type { AuthMethod, Found, Outcome } from './types.js';

const BASIC = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i;
/** user:password of any sane length fits; longer is refused before decoding. */
const MAX_CREDENTIALS_LENGTH = 4096;

interface UserPass {
  readonly user: string;
  readonly password: string;
}

/** The Basic method of a route. */
export class BasicMethod implements AuthMethod<UserPass> {
  readonly name = 'basic';
  readonly challenge: string;
  readonly #users = new Map<string, ParsedHash>();
  readonly #logger: Logger;
  readonly #checker = new SecretChecker<boolean>();
  /**
   * Checked when the user does not exist, so that an unknown user costs the same scrypt
   * work as a wrong password and user names cannot be found by timing.
   */
  readonly #decoy: ParsedHash;

  /**
   * @example
   * const basic = new BasicMethod(config.basic, logger);
   */
  constructor(config: BasicConfig, logger: Logger) {
    this.#logger = logger;
    this.challenge = `Basic realm=${quoted(config.realm)}, charset="UTF-8"`;
    for (const { name, hash } of config.users) {
      const parsed = parseHash(hash);
      if (parsed.ok) this.#users.set(name, parsed.value);
    }
    // A real user's hash has the real cost; a wrong password never matches it, and the
    // result is discarded for unknown users anyway.
    const scryptUser = [...this.#users.values()].find((h) => h.kind === 'scrypt');
    this.#decoy = scryptUser ?? [...this.#users.values()][0] ?? { kind: 'sha256', hash: Buffer.alloc(32) };
  }

  find(ctx: RequestContext): Found<UserPass> {
    const value = headerValues(ctx.rawHeaders, 'authorization')[0];
    if (value === undefined || !/^basic(\s|$)/i.test(value)) return ABSENT;
    if (value.length > MAX_CREDENTIALS_LENGTH) return { kind: 'bad', reason: 'Basic credentials too long' };
    const m = BASIC.exec(value);
    if (m === null) return { kind: 'bad', reason: 'malformed Basic credentials (not base64)' };
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) return { kind: 'bad', reason: 'Basic credentials without a colon' };
    // RFC 7617: no control characters in user-id or password.
    if (/[\x00-\x1f\x7f]/.test(decoded)) return { kind: 'bad', reason: 'control characters in Basic credentials' };
    return { kind: 'present', credentials: { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) } };
  }

  async check({ user, password }: UserPass, ctx: RequestContext): Promise<Outcome> {
    const cacheKey = this.#checker.key(user, password);
    let ok = this.#checker.remembered(cacheKey);
    if (ok === undefined) {
      const hash = this.#users.get(user);
      const match = await this.#checker.verify(password, hash ?? this.#decoy);
      if (match === undefined) return { ok: false, answer: overloaded() };
      ok = match && hash !== undefined;
      this.#checker.remember(cacheKey, ok);
    }
    if (!ok) return { ok: false, answer: this.refuse(`wrong password or unknown user ${JSON.stringify(user.slice(0, 100))}`, ctx) };
    return { ok: true, identity: { method: 'basic', subject: user, claims: { name: user } } };
  }

  refuse(reason: string, ctx: RequestContext): Answer {
    this.#logger.debug({ requestId: ctx.requestId, route: ctx.routeName, reason }, 'Basic credentials refused');
    return { status: 401, code: 'BRISK_UNAUTHORIZED', message: 'invalid user name or password', headers: ['www-authenticate', this.challenge] };
  }

  hide(ctx: RequestContext): void {
    removeHeaders(ctx.upstreamHeaders, AUTHORIZATION);
  }
}

const AUTHORIZATION: ReadonlySet<string> = new Set(['authorization']);
const ABSENT: Found<never> = { kind: 'absent' };
