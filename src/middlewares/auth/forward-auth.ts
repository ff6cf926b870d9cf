/**
 * Forward authentication: an auth service (oauth2-proxy, Authelia, an in-house one)
 * decides, like Traefik's ForwardAuth and NGINX's auth_request. Brisk asks it with a GET
 * carrying the client's credentials and what the client asked for in `X-Forwarded-*`.
 */
import { createHash } from 'node:crypto';
import { newUndiciAgent, request, type Agent } from '../../core/undici.js';
import type { IncomingHttpHeaders } from 'node:http';
import type { Answer, RequestContext } from '../../core/middleware.js';
import type { Logger } from '../../observability/logger.js';
import { TtlCache } from './cache.js';
import { headerValues } from './headers.js';
import type { ForwardAuthConfig } from './schema.js';
import type { AuthMethod, Found, Outcome } from './types.js';

type Decision =
  | { readonly kind: 'allow'; readonly upstreamHeaders: readonly string[]; readonly subject: string; readonly claims: Readonly<Record<string, string>> }
  | { readonly kind: 'deny'; readonly status: number; readonly headers: readonly string[]; readonly body: Buffer }
  | { readonly kind: 'unavailable'; readonly reason: string };

/** Headers of a refusal passed on to the client: what a login redirect or a challenge needs. */
const PASSED_ON = ['content-type', 'www-authenticate', 'location', 'set-cookie', 'cache-control', 'retry-after'];
/** A refusal body larger than this is dropped (the status and headers still go out). */
const MAX_DENY_BODY = 64 * 1024;
/** Set by Brisk; never copied from the client's own headers. */
const FORWARDED = new Set(['x-forwarded-method', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-uri', 'x-forwarded-for', 'host', 'content-length', 'transfer-encoding', 'connection']);

/** The forward-auth method of a route. */
export class ForwardAuthMethod implements AuthMethod<null> {
  readonly name = 'forward-auth';
  readonly challenge = null;
  readonly #config: ForwardAuthConfig;
  readonly #logger: Logger;
  readonly #agent: Agent;
  readonly #cache: TtlCache<Decision>;
  /** Identical questions in flight share one request to the auth service. */
  readonly #inflight = new Map<string, Promise<Decision>>();
  readonly #requestHeaders: readonly string[];
  #failing = false;
  /** Requests sent to the auth service (for tests and the admin API). */
  calls = 0;

  /**
   * @example
   * const forwardAuth = new ForwardAuthMethod(config.forwardAuth, logger);
   * await forwardAuth.close(); // when the config version is replaced
   */
  constructor(config: ForwardAuthConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
    this.#agent = newUndiciAgent({ connections: 64, keepAliveTimeout: 10_000, headersTimeout: config.timeoutMs, bodyTimeout: config.timeoutMs });
    this.#cache = new TtlCache<Decision>(config.cacheSize);
    this.#requestHeaders = config.requestHeaders.filter((h) => !FORWARDED.has(h));
  }

  /** The service decides about every request, with or without credentials. */
  find(): Found<null> {
    return PRESENT;
  }

  async check(_: null, ctx: RequestContext): Promise<Outcome> {
    const headers: Record<string, string> = {};
    const keyParts: string[] = [];
    for (const name of this.#requestHeaders) {
      const values = headerValues(ctx.rawHeaders, name);
      if (values.length === 0) {
        keyParts.push('');
        continue;
      }
      const value = values.join(name === 'cookie' ? '; ' : ', ');
      headers[name] = value;
      keyParts.push(value);
    }
    const host = headerValues(ctx.rawHeaders, 'host')[0] ?? headerValues(ctx.rawHeaders, ':authority')[0] ?? '';
    const uri = ctx.query === '' ? ctx.path : `${ctx.path}?${ctx.query}`;
    headers['x-forwarded-method'] = ctx.method;
    headers['x-forwarded-host'] = host;
    headers['x-forwarded-uri'] = uri;
    headers['x-forwarded-for'] = ctx.clientIp;
    headers['x-request-id'] = ctx.requestId;
    if (this.#config.cacheKey === 'request') keyParts.push(ctx.method, host, uri);

    const decision = await this.#decide(cacheKeyOf(keyParts), headers);
    switch (decision.kind) {
      case 'allow':
        return { ok: true, identity: { method: 'forward-auth', subject: decision.subject, claims: decision.claims }, upstreamHeaders: decision.upstreamHeaders };
      case 'deny':
        this.#logger.debug({ requestId: ctx.requestId, route: ctx.routeName, status: decision.status }, 'forward-auth refused the request');
        return { ok: false, answer: { status: decision.status, headers: decision.headers, body: decision.body } };
      case 'unavailable':
        return {
          ok: false,
          answer: { status: 503, code: 'BRISK_AUTH_UNAVAILABLE', message: 'the auth service cannot be reached right now; retry later', headers: ['retry-after', '1'] },
        };
    }
  }

  refuse(): Answer {
    // find() never reports bad credentials; here for the interface.
    return { status: 401, code: 'BRISK_UNAUTHORIZED', message: 'authentication required' };
  }

  /** The credentials may be what the target needs too (session cookies): never removed. */
  hide(): void {}

  async close(): Promise<void> {
    await this.#agent.destroy();
  }

  #decide(key: string, headers: Record<string, string>): Promise<Decision> {
    const ttl = this.#config.cacheTtlMs;
    if (ttl <= 0) return this.#ask(headers);
    const cached = this.#cache.get(key);
    if (cached !== undefined) return Promise.resolve(cached);
    let pending = this.#inflight.get(key);
    if (pending === undefined) {
      pending = this.#ask(headers).then((decision) => {
        this.#inflight.delete(key);
        // An unavailable service is asked again next time; a refusal that sets a cookie
        // (a login nonce) belongs to one client and is never replayed to another.
        if (decision.kind === 'allow' || (decision.kind === 'deny' && !decision.headers.includes('set-cookie'))) this.#cache.set(key, decision, ttl);
        return decision;
      });
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  async #ask(headers: Record<string, string>): Promise<Decision> {
    const { url, timeoutMs } = this.#config;
    this.calls++;
    let decision: Decision;
    try {
      const res = await request(url, { method: 'GET', headers, dispatcher: this.#agent, signal: AbortSignal.timeout(timeoutMs) });
      const status = res.statusCode;
      if (status >= 200 && status < 300) {
        await res.body.dump();
        decision = this.#allow(res.headers);
      } else if (status >= 300 && status < 500) {
        decision = { kind: 'deny', status, headers: passedOn(res.headers), body: await readCapped(res.body as AsyncIterable<Buffer>, MAX_DENY_BODY) };
      } else {
        await res.body.dump();
        decision = { kind: 'unavailable', reason: `answered ${status}` };
      }
    } catch (error) {
      decision = { kind: 'unavailable', reason: (error as Error).message };
    }
    if (decision.kind === 'unavailable') {
      if (!this.#failing) this.#logger.warn({ url, err: decision.reason }, 'forward-auth service unavailable: requests get 503');
      this.#failing = true;
    } else if (this.#failing) {
      this.#failing = false;
      this.#logger.info({ url }, 'forward-auth service answers again');
    }
    return decision;
  }

  #allow(responseHeaders: IncomingHttpHeaders): Decision {
    const upstreamHeaders: string[] = [];
    const claims: Record<string, string> = {};
    for (const name of this.#config.copyHeaders) {
      const value = responseHeaders[name];
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) upstreamHeaders.push(name, v);
      claims[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const subjectValue = this.#config.subjectHeader === null ? undefined : responseHeaders[this.#config.subjectHeader];
    const subject = Array.isArray(subjectValue) ? (subjectValue[0] ?? '') : (subjectValue ?? '');
    return { kind: 'allow', upstreamHeaders, subject, claims };
  }
}

function cacheKeyOf(parts: readonly string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p, 'utf8').update('\0');
  return h.digest('base64url');
}

function passedOn(headers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const name of PASSED_ON) {
    const value = headers[name];
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.push(name, v);
  }
  return out;
}

async function readCapped(body: AsyncIterable<Buffer>, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    // Leaving the loop destroys the body through the iterator, which handles its abort error.
    if (size > max) return Buffer.alloc(0);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const PRESENT: Found<null> = { kind: 'present', credentials: null };
