/**
 * The `auth` middleware: API keys, JWT, Basic and forward-auth, alone or combined.
 * See README.md in this folder for the behaviour and the choices behind it.
 */
import type { Answer, Identity, Middleware, RequestContext } from '../../core/middleware.js';
import { ApiKeyMethod } from './api-keys.js';
import { BasicMethod } from './basic.js';
import { ForwardAuthMethod } from './forward-auth.js';
import { claimHeaderValue, headerValues, removeHeaders } from './headers.js';
import { JwtMethod } from './jwt.js';
import type { AuthConfig } from './schema.js';
import type { AuthMethod, MiddlewareDeps, Outcome } from './types.js';

export { AuthSchema, type AuthConfig, type RawAuth } from './schema.js';
export { normalizeAuth, type NormalizeAuthResult } from './normalize.js';
export { hashSecret, verifySecret, parseHash } from './secrets.js';
export type { MiddlewareDeps } from './types.js';

/** The middleware with the parts tests and the admin API may look at. */
export interface AuthMiddleware extends Middleware {
  /** The JWT method, when configured (its `jwks` cache tells whether keys are at hand). */
  readonly jwt: JwtMethod | null;
  readonly forwardAuth: ForwardAuthMethod | null;
}

/**
 * Builds the `auth` middleware of a route from its normalised config. Build once per
 * route and config version; `close()` it when the version is replaced (it holds the
 * forward-auth connection pool and a JWKS fetch).
 *
 * On success it sets `ctx.identity`, removes client-sent copies of the identity headers
 * and sets them from the identity. On failure it answers 401 (with `WWW-Authenticate`),
 * the auth service's own refusal, or 503 when credentials cannot be checked.
 *
 * @example
 * const { config, problems } = normalizeAuth(route.auth, baseDir);
 * const auth = createAuth(config!, { logger });
 * const answer = await auth.handle(ctx); // null: go on; an Answer: send it
 */
export function createAuth(config: AuthConfig, deps: MiddlewareDeps): AuthMiddleware {
  const { logger } = deps;
  const realm = config.basic?.realm ?? 'brisk';
  const apiKeys = config.apiKeys === null ? null : new ApiKeyMethod(config.apiKeys, logger, realm);
  const jwt = config.jwt === null ? null : new JwtMethod(config.jwt, logger, realm);
  const basic = config.basic === null ? null : new BasicMethod(config.basic, logger);
  const forwardAuth = config.forwardAuth === null ? null : new ForwardAuthMethod(config.forwardAuth, logger);
  // The documented order: the first method whose credentials are present decides.
  const methods = [apiKeys, jwt, basic, forwardAuth].filter((m): m is NonNullable<typeof m> => m !== null) as AuthMethod[];
  const challenges = methods.flatMap((m) => (m.challenge === null ? [] : ['www-authenticate', m.challenge]));
  const described = describe(config);

  const ids = config.identityHeaders;
  const stripped = new Set<string>([...(config.forwardAuth?.copyHeaders ?? []), ...ids.claims.map((c) => c.header)]);
  if (ids.subject !== null) stripped.add(ids.subject);
  if (ids.method !== null) stripped.add(ids.method);

  const missing = (): Answer => ({ status: 401, code: 'BRISK_UNAUTHORIZED', message: `authentication required: ${described}`, headers: challenges });

  const anyOf = (ctx: RequestContext): Outcome | Promise<Outcome> => {
    for (const method of methods) {
      const found = method.find(ctx);
      if (found.kind === 'absent') continue;
      if (found.kind === 'bad') return { ok: false, answer: method.refuse(found.reason, ctx) };
      return method.check(found.credentials, ctx);
    }
    return { ok: false, answer: missing() };
  };

  const allOf = async (ctx: RequestContext): Promise<Outcome> => {
    const outcomes: Outcome[] = [];
    for (const method of methods) {
      const found = method.find(ctx);
      if (found.kind === 'absent') return { ok: false, answer: missing() };
      if (found.kind === 'bad') return { ok: false, answer: method.refuse(found.reason, ctx) };
      const outcome = await method.check(found.credentials, ctx);
      if (!outcome.ok) return outcome;
      outcomes.push(outcome);
    }
    return combine(outcomes);
  };

  const decide: (ctx: RequestContext) => Outcome | Promise<Outcome> = config.mode === 'allOf' ? allOf : anyOf;

  const conclude = (ctx: RequestContext, outcome: Outcome): Answer | null => {
    if (!outcome.ok) return outcome.answer;
    ctx.identity = outcome.identity;
    if (config.hideCredentials) for (const m of methods) m.hide(ctx);
    setIdentityHeaders(ctx, outcome, config);
    return null;
  };
  const failClosed = (ctx: RequestContext, error: unknown): Answer => {
    // A bug or an unexpected library error must fail closed, never let the request through.
    logger.error({ requestId: ctx.requestId, route: ctx.routeName, err: error }, 'auth failed unexpectedly');
    return { status: 503, code: 'BRISK_AUTH_UNAVAILABLE', message: 'credentials could not be checked; retry later' };
  };

  return {
    name: 'auth',
    jwt,
    forwardAuth,
    handle(ctx: RequestContext): Answer | null | Promise<Answer | null> {
      // First, before anything can fail: a client must never get its own identity headers through.
      removeHeaders(ctx.upstreamHeaders, stripped);
      // With two Authorization headers, Brisk could check one while the target reads the other.
      if (headerValues(ctx.rawHeaders, 'authorization').length > 1) {
        logger.debug({ requestId: ctx.requestId, route: ctx.routeName }, 'refused: several Authorization headers');
        return { status: 401, code: 'BRISK_UNAUTHORIZED', message: 'more than one Authorization header', headers: challenges };
      }
      let outcome: Outcome | Promise<Outcome>;
      try {
        outcome = decide(ctx);
      } catch (error) {
        return failClosed(ctx, error);
      }
      // A cached verification answers synchronously: no promise on the common path.
      if (outcome instanceof Promise) {
        return outcome.then(
          (o) => conclude(ctx, o),
          (error: unknown) => failClosed(ctx, error),
        );
      }
      return conclude(ctx, outcome);
    },
    async close(): Promise<void> {
      await Promise.all(methods.map((m) => m.close?.()));
    },
  };
}

function setIdentityHeaders(ctx: RequestContext, outcome: Outcome & { ok: true }, config: AuthConfig): void {
  const ids = config.identityHeaders;
  const { identity } = outcome;
  const out = ctx.upstreamHeaders;
  if (ids.subject !== null && identity.subject !== '') {
    const value = claimHeaderValue(identity.subject);
    if (value !== undefined) out.push(ids.subject, value);
  }
  if (ids.method !== null) out.push(ids.method, identity.method);
  for (const { header, claim } of ids.claims) {
    const value = claimHeaderValue(claimAt(identity.claims, claim));
    if (value !== undefined) out.push(header, value);
  }
  if (outcome.upstreamHeaders !== undefined) for (const h of outcome.upstreamHeaders) out.push(h);
}

/** A claim by dotted path (`realm_access.roles`); own properties only, so `__proto__` leads nowhere. */
function claimAt(claims: Readonly<Record<string, unknown>>, path: readonly string[]): unknown {
  let value: unknown = claims;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** allOf: one identity from several; the first method's subject, claims merged (earlier methods win). */
function combine(outcomes: readonly Outcome[]): Outcome {
  const ok = outcomes.filter((o): o is Outcome & { ok: true } => o.ok);
  const claims: Record<string, unknown> = {};
  for (let i = ok.length - 1; i >= 0; i--) Object.assign(claims, ok[i]!.identity.claims);
  const identity: Identity = {
    method: ok.map((o) => o.identity.method).join('+'),
    subject: ok.find((o) => o.identity.subject !== '')?.identity.subject ?? '',
    claims,
  };
  const upstreamHeaders = ok.flatMap((o) => o.upstreamHeaders ?? []);
  return { ok: true, identity, upstreamHeaders };
}

/** What a client is expected to send, for the 401 message. */
function describe(config: AuthConfig): string {
  const parts: string[] = [];
  const k = config.apiKeys;
  if (k !== null) {
    const where = [k.header === null ? null : `the ${k.header} header`, k.authorization ? 'Authorization: ApiKey' : null, k.query === null ? null : `the ${k.query} query parameter`].filter((x) => x !== null);
    parts.push(`an API key in ${where.join(' or ')}`);
  }
  if (config.jwt !== null) parts.push(config.jwt.cookie !== null ? `a token in the ${config.jwt.cookie} cookie` : config.jwt.header === 'authorization' ? 'a Bearer token' : `a token in the ${config.jwt.header} header`);
  if (config.basic !== null) parts.push('Basic credentials');
  return parts.join(config.mode === 'allOf' ? ' and ' : ' or ') || 'credentials';
}
