/**
 * API keys: the client sends a key, Brisk hashes it and finds the key's name.
 */
import type { Answer, RequestContext } from '../../core/middleware.js';
import type { Logger } from '../../observability/logger.js';
import { headerValues, quoted, removeHeaders } from './headers.js';
import type { ApiKeysConfig } from './schema.js';
import { SecretChecker } from './secret-checker.js';
import { parseHash, sha256, type ParsedHash } from './secrets.js';
import type { AuthMethod, Found, Outcome } from './types.js';

const API_KEY_SCHEME = /^ApiKey +([^\s]+) *$/i;
/** Real keys are tens of characters; longer input is refused before hashing. */
const MAX_KEY_LENGTH = 1024;

/** The API key method of a route. */
export class ApiKeyMethod implements AuthMethod<string> {
  readonly name = 'api-key';
  readonly challenge: string;
  readonly #config: ApiKeysConfig;
  readonly #logger: Logger;
  /**
   * sha256 keys by digest. A Map lookup is not a constant-time comparison, and need not
   * be: the lookup is keyed by the digest of what the client sent, and a client cannot
   * steer a digest towards a stored one to learn anything from timing.
   */
  readonly #byDigest = new Map<string, string>();
  /** scrypt keys: salted, so each must be tried in turn (see the README: prefer sha256 for API keys). */
  readonly #salted: Array<{ name: string; hash: ParsedHash }> = [];
  readonly #checker = new SecretChecker<string | null>();

  /**
   * @example
   * const apiKeys = new ApiKeyMethod(config.apiKeys, logger, 'brisk');
   */
  constructor(config: ApiKeysConfig, logger: Logger, realm: string) {
    this.#config = config;
    this.#logger = logger;
    this.challenge = `ApiKey realm=${quoted(realm)}`;
    for (const { name, hash } of config.keys) {
      const parsed = parseHash(hash);
      // The normaliser has already refused hashes that do not parse.
      if (!parsed.ok) continue;
      if (parsed.value.kind === 'sha256') this.#byDigest.set(parsed.value.hash.toString('hex'), name);
      else this.#salted.push({ name, hash: parsed.value });
    }
  }

  find(ctx: RequestContext): Found<string> {
    const c = this.#config;
    const keys: string[] = [];
    if (c.header !== null) for (const v of headerValues(ctx.rawHeaders, c.header)) keys.push(v.trim());
    if (c.authorization) {
      const value = headerValues(ctx.rawHeaders, 'authorization')[0];
      if (value !== undefined && /^apikey(\s|$)/i.test(value)) {
        const m = API_KEY_SCHEME.exec(value);
        if (m === null) return { kind: 'bad', reason: 'malformed ApiKey credentials' };
        keys.push(m[1]!);
      }
    }
    if (c.query !== null && ctx.query !== '') {
      for (const part of ctx.query.split('&')) {
        const eq = part.indexOf('=');
        if (eq === -1 || safeDecode(part.slice(0, eq)) !== c.query) continue;
        const value = safeDecode(part.slice(eq + 1));
        if (value === undefined) return { kind: 'bad', reason: `query parameter ${c.query} is not valid percent-encoding` };
        keys.push(value);
      }
    }
    if (keys.length === 0) return ABSENT;
    // Two different keys in one request: which one the target would see is anyone's guess.
    if (keys.some((k) => k !== keys[0])) return { kind: 'bad', reason: 'more than one API key in the request' };
    const key = keys[0]!;
    if (key === '') return { kind: 'bad', reason: 'empty API key' };
    if (key.length > MAX_KEY_LENGTH) return { kind: 'bad', reason: `API key longer than ${MAX_KEY_LENGTH} characters` };
    return { kind: 'present', credentials: key };
  }

  async check(key: string, ctx: RequestContext): Promise<Outcome> {
    const fast = this.#byDigest.get(sha256(key).toString('hex'));
    if (fast !== undefined) return this.#allow(fast);
    if (this.#salted.length === 0) return { ok: false, answer: this.refuse('unknown key', ctx) };
    const cacheKey = this.#checker.key(key);
    let name = this.#checker.remembered(cacheKey);
    if (name === undefined) {
      name = null;
      for (const candidate of this.#salted) {
        const match = await this.#checker.verify(key, candidate.hash);
        if (match === undefined) return { ok: false, answer: overloaded() };
        if (match) {
          name = candidate.name;
          break;
        }
      }
      this.#checker.remember(cacheKey, name);
    }
    return name === null ? { ok: false, answer: this.refuse('unknown key', ctx) } : this.#allow(name);
  }

  refuse(reason: string, ctx: RequestContext): Answer {
    this.#logger.debug({ requestId: ctx.requestId, route: ctx.routeName, reason }, 'API key refused');
    return { status: 401, code: 'BRISK_UNAUTHORIZED', message: 'invalid API key', headers: ['www-authenticate', this.challenge] };
  }

  hide(ctx: RequestContext): void {
    const names = new Set<string>();
    if (this.#config.header !== null) names.add(this.#config.header);
    if (this.#config.authorization && /^apikey(\s|$)/i.test(headerValues(ctx.rawHeaders, 'authorization')[0] ?? '')) names.add('authorization');
    removeHeaders(ctx.upstreamHeaders, names);
  }

  #allow(name: string): Outcome {
    return { ok: true, identity: { method: 'api-key', subject: name, claims: { name } } };
  }
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** Too many password or key checks waiting: 503, the client may retry. */
export function overloaded(): Answer {
  return { status: 503, code: 'BRISK_AUTH_UNAVAILABLE', message: 'too many credential checks at once; retry later', headers: ['retry-after', '1'] };
}

const ABSENT: Found<never> = { kind: 'absent' };
