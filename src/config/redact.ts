/**
 * A copy of the configuration that is safe to show (the admin API's `/api/config`).
 * Nothing in the schema is secret today, but header edits and matchers can carry
 * credentials (`authorization`, API keys), and later features will add more; redacting
 * by name here keeps them out of the admin API without each feature remembering to.
 */
import type { Config } from './types.js';

/** What a redacted value is replaced with. */
export const REDACTED = '[redacted]';

// `webhook`: an alert receiver's or action's URL carries its token (Slack, DingTalk, Feishu, WeCom).
const SECRET_WORDS = new Set(['secret', 'secrets', 'password', 'passwd', 'pwd', 'token', 'tokens', 'authorization', 'cookie', 'credential', 'credentials', 'apikey', 'auth', 'webhook']);

/**
 * Whether a key names a secret: any word of it is a secret word (`clientSecret`,
 * `x-auth-token`, `set-cookie`), or its last word is `key` (`apiKey`, `x-api-key`).
 * `keyFile` is not a secret: a path to a key shows where it is, not what it is.
 */
export function isSecretKey(key: string): boolean {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
  if (words.length === 0) return false;
  return words.at(-1) === 'key' || words.some((w) => SECRET_WORDS.has(w));
}

/**
 * A JSON-able copy of `config` with the value of every secret-named key replaced by
 * `"[redacted]"`, at any depth (a header named `authorization` under
 * `requestHeaders.set` or `match.headers` included).
 *
 * @example
 * JSON.stringify(redactConfig(config))
 */
export function redactConfig(config: Config): unknown {
  return redact(config);
}

/** A URL with its password (`redis://user:pass@host`) replaced, for logs and messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)[^@/]*@/i, `$1${REDACTED}@`);
}

function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  // A password inside a URL (`redis://user:pass@host`) is a secret whatever its key is called.
  if (typeof value === 'string') return redactUrl(value);
  if (value === null || typeof value !== 'object') return value;
  const copy: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    // A rate limit's `key` (and `keySpec`) says what is counted (`ip`, `header:x-user`), not a secret.
    const describesCounting = (key === 'key' && typeof inner === 'object' && inner !== null && 'kind' in inner) || key === 'keySpec';
    const safe = !describesCounting && isSecretKey(key) && inner !== null && inner !== undefined && inner !== false ? REDACTED : redact(inner);
    Object.defineProperty(copy, key, { value: safe, enumerable: true, writable: true, configurable: true });
  }
  return copy;
}
