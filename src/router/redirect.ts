/**
 * Redirect routes (`redirect: { to, status, keepQuery }`): the route's terminal step
 * answers with a `Location` built from the route's parameters, the request's host and
 * path, instead of sending anything upstream. The config is checked in
 * config/redirect.ts; the placeholders it may use, here, once the route's parameters are
 * known (`checkRedirect`, called when the route is compiled).
 */
import type { RouteTerminal, TerminalContext } from '../core/middleware.js';
import { isHttp2Request } from '../core/http.js';
import { REDIRECT_BUILTINS, type RedirectConfig } from './config/redirect.js';
import { joinPath } from './rewrite.js';
import { parsePathTemplate, parseValueTemplate, type Template } from './template.js';
import type { RouteParams } from './types.js';

/** `scheme://authority` at the start of an absolute target (the authority may use `${host}`; `${path}` starts the path). */
const ORIGIN = /^https?:\/\/(?:\$\{host\}|[^/?#$])*/i;

interface CompiledTarget {
  /** The scheme and host part (may use `${host}`), '' for a path target. */
  readonly origin: Template | null;
  readonly path: Template;
}

function compileTarget(to: string): CompiledTarget {
  const origin = ORIGIN.exec(to)?.[0];
  if (origin === undefined) return { origin: null, path: parsePathTemplate(to) };
  return { origin: parseValueTemplate(origin), path: parsePathTemplate(to.slice(origin.length)) };
}

/**
 * Checks that a redirect only uses what the route provides: its parameters (and `*` when
 * it captures the rest), `${host}` and `${path}`.
 *
 * @throws Error naming the unknown placeholder.
 */
export function checkRedirect(redirect: RedirectConfig, knownParams: ReadonlySet<string>): void {
  const target = compileTarget(redirect.to);
  const names = [...(target.origin?.names ?? []), ...target.path.names];
  for (const name of names) {
    if (knownParams.has(name) || (REDIRECT_BUILTINS as readonly string[]).includes(name)) continue;
    const known = [...knownParams, ...REDIRECT_BUILTINS].map((n) => `\${${n}}`).join(', ');
    throw new Error(`redirect.to "${redirect.to}" uses "${name}", which the route does not capture (known: ${known})`);
  }
  for (const name of target.origin?.names ?? []) {
    if (name !== 'host') throw new Error(`redirect.to "${redirect.to}": only \${host} may be used before the path`);
  }
}

/**
 * The terminal step of a redirect route.
 *
 * @example
 * const terminal = compileRedirect({ to: '/docs/v2/:page', status: 301, keepQuery: true });
 * terminal.run(exchange); // 301, Location: /docs/v2/intro?lang=en
 */
export function compileRedirect(redirect: RedirectConfig): RouteTerminal {
  const target = compileTarget(redirect.to);
  const { status, keepQuery } = redirect;
  return {
    run(ctx: TerminalContext): void {
      const host = requestHost(ctx);
      const path = requestPath(ctx);
      let location = target.origin === null ? '' : render(target.origin, ctx.params, host, path, false);
      let rest = render(target.path, ctx.params, host, path, true);
      // A path that renders as `//host` or `/\host` would send the client to another host (an open redirect).
      if (target.origin === null) rest = rest.replace(/^[/\\]{2,}/, '/');
      location += rest === '' && target.origin !== null ? '/' : rest;
      if (keepQuery && ctx.query !== '') location += `${location.includes('?') ? '&' : '?'}${ctx.query}`;
      ctx.answer({ status, headers: ['location', location], body: '' });
    },
  };
}

function render(t: Template, params: RouteParams | null, host: string, path: string, inPath: boolean): string {
  let out = t.literals[0]!;
  for (let i = 0; i < t.names.length; i++) {
    const name = t.names[i]!;
    const param = params?.[name];
    let value: string;
    if (param !== undefined) value = encode(param, name === '*');
    else if (name === 'host') value = host;
    else if (name === 'path') value = path;
    else value = '';
    out = inPath ? joinPath(joinPath(out, value), t.literals[i + 1]!) : out + value + t.literals[i + 1]!;
  }
  return out;
}

/** A decoded parameter, percent-encoded again; the rest parameter keeps its slashes. */
function encode(value: string, keepSlashes: boolean): string {
  try {
    return keepSlashes ? value.split('/').map(encodeURIComponent).join('/') : encodeURIComponent(value);
  } catch {
    // A lone surrogate cannot be encoded; leave the value out rather than throw.
    return '';
  }
}

/** The request's host without the port (the listener's port is not the target's). */
function requestHost(ctx: TerminalContext): string {
  const req = ctx.req;
  const raw = (isHttp2Request(req) ? req.headers[':authority'] : undefined) ?? req.headers.host ?? '';
  const host = Array.isArray(raw) ? (raw[0] ?? '') : raw;
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/** The path as received, without the query (and without the origin of an absolute-form target). */
function requestPath(ctx: TerminalContext): string {
  let url = ctx.req.url ?? '/';
  const origin = url.startsWith('/') ? undefined : ORIGIN.exec(url)?.[0];
  if (origin !== undefined) url = url.slice(origin.length) || '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
