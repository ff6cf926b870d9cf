/**
 * The route key `redirect`: a route that answers every request it takes with a redirect
 * instead of sending it to an upstream (a moved page, an old API version, another host).
 * The answer is built by `src/router/redirect.ts`; `httpsRedirect` (a middleware) is for
 * sending plain-HTTP requests to HTTPS.
 */
import { Type, type Static } from '../../config/type-builder.js';
import type { Normalized } from '../../config/normalize-kit.js';
import { Strict } from '../../config/schema-kit.js';
import type { PathProblem } from '../../config/positions.js';
import { RedirectStatus } from '../../middlewares/https-redirect/schema.js';

/** Names a redirect template may use besides the route's parameters. */
export const REDIRECT_BUILTINS = ['host', 'path'] as const;

/** The schema of a route's `redirect`. */
export const RedirectSchema = Strict(
  {
    to: Type.String({
      minLength: 1,
      description:
        'Where to send the client: a path (`/docs/v2/:page`) or an absolute URL (`https://new.example.com/${path}`). `:name` (at the start of a segment) and `${name}` are filled from the route\'s parameters, `*` (or `${*}`) with the rest a trailing `*` captured, `${host}` with the request\'s host (no port) and `${path}` with its path.',
    }),
    status: Type.Optional(RedirectStatus(302, '`302` (the default) and `307` are temporary; `301` and `308` are permanent (browsers remember them: use them once the move is final). `307` and `308` keep the method and body of a POST. `303` turns any method into a GET.')),
    keepQuery: Type.Optional(Type.Boolean({ default: true, description: "Append the request's query string to the target (after `&` when `to` has a query of its own)." })),
  },
  'Answer every request of the route with a redirect (a route has `upstream`, `aggregate` or `redirect`). The route\'s middlewares (auth, rate limits, …) run first.',
);

/** `redirect` as written in the file. */
export type RawRedirect = Static<typeof RedirectSchema>;

/** A route's normalised `redirect`. */
export interface RedirectConfig {
  readonly to: string;
  readonly status: 301 | 302 | 303 | 307 | 308;
  readonly keepQuery: boolean;
}

/**
 * Checks `to`: a path, or an http(s) URL with a host; nothing that would let the value
 * break the `Location` header. Which placeholders it may use is checked when the route is
 * compiled (only the router knows what the match captures).
 */
export function normalizeRedirect(raw: RawRedirect): Normalized<RedirectConfig> {
  const problems: PathProblem[] = [];
  const to = raw.to.trim();
  if (/[\u0000-\u001f\u007f]/.test(to)) problems.push({ path: ['to'], message: 'a redirect target may not contain control characters (line breaks, tabs)' });
  else if (!to.startsWith('/') && !/^https?:\/\/[^/?#\s]+/i.test(to)) {
    problems.push({ path: ['to'], message: `expected a path ("/new/path") or an http(s) URL ("https://example.com/path"); got ${JSON.stringify(raw.to)}` });
  } else if (to.startsWith('//')) {
    problems.push({ path: ['to'], message: 'a target starting with "//" names another host; write it as a URL with its scheme ("https://host/path")' });
  }
  if (problems.length > 0) return { problems, warnings: [] };
  return { config: { to, status: raw.status ?? 302, keepQuery: raw.keepQuery ?? true }, problems, warnings: [] };
}
