/**
 * What a target URL and weight may be: one definition for the config loader
 * (`upstreams.*.targets`) and for the admin API that adds targets at runtime.
 */

/** The largest target weight (the schema's `maximum`). */
export const MAX_TARGET_WEIGHT = 1000;

/** A target URL taken apart; `problems` is empty when it is acceptable. */
export interface ParsedTargetUrl {
  readonly origin: string;
  /** Path prefix from the URL, without trailing slashes ('' when none). */
  readonly basePath: string;
  readonly problems: readonly string[];
}

/**
 * Parses a target URL: `http(s)://host[:port][/base/path]` or `h2c://host[:port][/base/path]`
 * (HTTP/2 without TLS), no credentials, query or fragment. Returns null when it is not a
 * URL at all.
 *
 * @example
 * parseTargetUrl('http://127.0.0.1:7001/api/'); // { origin: 'http://127.0.0.1:7001', basePath: '/api', problems: [] }
 */
export function parseTargetUrl(text: string): ParsedTargetUrl | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  const problems: string[] = [];
  const h2c = url.protocol === 'h2c:';
  if (url.protocol !== 'http:' && url.protocol !== 'https:' && !h2c) problems.push(`a target URL must start with http://, https:// or h2c:// (HTTP/2 without TLS), not ${url.protocol}//`);
  if (h2c && url.hostname === '') problems.push('an h2c:// target URL needs a host: h2c://10.0.0.7:50051');
  if (url.username !== '' || url.password !== '') problems.push('credentials in a target URL are not supported; remove "user:password@"');
  if (url.search !== '' || url.hash !== '') problems.push('a target URL may not have a query string or fragment');
  // `h2c:` is not a scheme URL knows, so it has no `origin`: built the same way, default port 80.
  const origin = h2c ? `h2c://${url.host}` : url.origin;
  return { origin, basePath: url.pathname.replace(/\/+$/, ''), problems };
}

/** Why `weight` is not a valid target weight, or null when it is. */
export function targetWeightProblem(weight: unknown): string | null {
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > MAX_TARGET_WEIGHT) {
    return `a target weight is a whole number from 1 to ${MAX_TARGET_WEIGHT}, not ${JSON.stringify(weight)}`;
  }
  return null;
}
