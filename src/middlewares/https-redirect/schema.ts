/**
 * The route key `httpsRedirect`: requests that came over plain HTTP are answered with a
 * redirect to the same URL on HTTPS. A gateway-wide default (`defaults.httpsRedirect`)
 * is the usual place for it; a route that must stay on plain HTTP (an ACME http-01
 * challenge) says `httpsRedirect: off`.
 */
import { Type, type Static } from '../../config/type-builder.js';
import type { Normalized } from '../../config/normalize-kit.js';
import { Strict } from '../../config/schema-kit.js';

/** The redirect statuses a user may pick. */
export const REDIRECT_STATUSES = [301, 302, 303, 307, 308] as const;

/** A redirect status: 301, 302, 303, 307 or 308. */
export const RedirectStatus = (def: number, description: string) =>
  Type.Union(
    REDIRECT_STATUSES.map((s) => Type.Literal(s)),
    { default: def, description },
  );

const Settings = Strict(
  {
    status: Type.Optional(
      RedirectStatus(
        308,
        'The redirect status. `308` (the default) and `301` are permanent (browsers remember them); `307` and `302` are temporary. `308` and `307` keep the method and body of a POST; `301` and `302` may turn it into a GET.',
      ),
    ),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 443, description: 'The HTTPS port named in the redirect; left out of the URL when it is 443.' })),
  },
  'Redirect settings.',
);

/** The schema of the route key `httpsRedirect`: `true`, or settings. */
export const HttpsRedirectSchema = Type.Union([Type.Literal(true), Settings], {
  description:
    'Answer requests that came over plain HTTP with a redirect to the same host, path and query on HTTPS (`true`, or settings). A request that came over TLS, or from a trusted proxy (`proxy.trustedProxies`) that says `X-Forwarded-Proto: https`, goes on.',
});

/** `httpsRedirect` as written in the file. */
export type RawHttpsRedirect = Static<typeof HttpsRedirectSchema>;

/** The normalised `httpsRedirect`. */
export interface HttpsRedirectConfig {
  readonly status: 301 | 302 | 303 | 307 | 308;
  readonly port: number;
}

/** Normalises `httpsRedirect`; nothing to refuse that the schema did not. */
export function normalizeHttpsRedirect(raw: RawHttpsRedirect): Normalized<HttpsRedirectConfig> {
  const settings = raw === true ? {} : raw;
  return { config: { status: settings.status ?? 308, port: settings.port ?? 443 }, problems: [], warnings: [] };
}
