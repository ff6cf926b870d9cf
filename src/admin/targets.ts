/**
 * The admin API's live-target endpoints, routed by `src/admin/server.ts`:
 *
 *     GET    /api/upstreams/NAME/targets                   members with state, sources, weight, health, in-flight
 *     POST   /api/upstreams/NAME/targets                   {"url": "http://10.0.0.9:8080", "weight": 1} → 201
 *     DELETE /api/upstreams/NAME/targets?url=URL|id=ID[&timeout=30s]   drains, then removes → 202
 *
 * Changes are membership commands (`src/upstreams/membership.ts`) from the `admin` source,
 * sent through the host's `membership` seam (the data plane applies them to the upstream's
 * live target set), so they survive reloads. POST and DELETE need
 * `Content-Type: application/json` (cross-site forms cannot send it).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { UPSTREAM_DEFAULTS } from '../upstreams/config/defaults.js';
import { parseTargetUrl, targetWeightProblem } from '../upstreams/config/targets.js';
import { durationMs, MAX_DURATION_MS } from '../config/units.js';
import { targetHealth } from '../observability/metrics.js';
import { ADMIN_SOURCE, keyOf, type MembershipCommand, type MembershipResult } from '../upstreams/membership.js';
import type { Target } from '../upstreams/target.js';
import type { Upstream } from '../upstreams/upstream.js';
import { error, json, readJsonObject } from './respond.js';

/** What the handlers need of the gateway: the runtime to read, the membership seam to change it. */
export interface HasUpstreams {
  readonly runtime: { readonly upstreams: ReadonlyMap<string, Upstream> };
  membership(upstream: string, command: MembershipCommand): MembershipResult | null;
}

type Handler = (gw: HasUpstreams, req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

const PREFIX = '/api/upstreams/';
const SUFFIX = '/targets';

/**
 * The endpoint for `path` when it is `/api/upstreams/NAME/targets`, else undefined.
 *
 * @example
 * const endpoint = ROUTES[path] ?? targetEndpoint(path);
 */
export function targetEndpoint(path: string): Partial<Record<string, Handler>> | undefined {
  if (!path.startsWith(PREFIX) || !path.endsWith(SUFFIX)) return undefined;
  const encoded = path.slice(PREFIX.length, path.length - SUFFIX.length);
  if (encoded === '' || encoded.includes('/')) return undefined;
  let name: string;
  try {
    name = decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
  return {
    GET: (gw, _req, res) => {
      const upstream = upstreamOr404(gw, name, res);
      if (upstream === undefined) return;
      json(res, 200, { upstream: name, membershipVersion: upstream.membershipVersion, targets: upstream.targets.map((t) => describe(upstream, t)), heldOut: upstream.set.heldOut() });
    },
    POST: (gw, req, res) => addTarget(gw, name, req, res),
    DELETE: (gw, req, res) => drainTarget(gw, name, req, res),
  };
}

async function addTarget(gw: HasUpstreams, name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await jsonBody(req, res, true);
  if (body === undefined) return;
  const upstream = upstreamOr404(gw, name, res);
  if (upstream === undefined) return;
  const unknown = Object.keys(body).filter((k) => k !== 'url' && k !== 'weight');
  if (unknown.length > 0) return error(res, 'BRISK_TARGET_INVALID', `unknown key ${JSON.stringify(unknown[0])}; a target is {"url": "http://host:port", "weight": 1}`);
  if (typeof body['url'] !== 'string') return error(res, 'BRISK_TARGET_INVALID', 'say which target: {"url": "http://host:port", "weight": 1}');
  const url = parseTargetUrl(body['url']);
  if (url === null) return error(res, 'BRISK_TARGET_INVALID', `invalid URL ${JSON.stringify(body['url'])}; a target URL looks like "http://10.0.0.7:8080"`);
  if (url.problems.length > 0) return error(res, 'BRISK_TARGET_INVALID', `${JSON.stringify(body['url'])}: ${url.problems.join('; ')}`);
  const weight = body['weight'] ?? UPSTREAM_DEFAULTS.weight;
  const weightProblem = targetWeightProblem(weight);
  if (weightProblem !== null) return error(res, 'BRISK_TARGET_INVALID', weightProblem);
  const result = gw.membership(name, { op: 'add', source: ADMIN_SOURCE, target: { origin: url.origin, basePath: url.basePath, weight: weight as number } });
  if (result === null) return void upstreamOr404(gw, name, res);
  if (!result.ok) return error(res, result.reason === 'exists' ? 'BRISK_TARGET_EXISTS' : 'BRISK_ADMIN_UPSTREAM_NOT_FOUND', result.message);
  const target = upstream.set.find(keyOf(url));
  res.setHeader('location', `${PREFIX}${encodeURIComponent(name)}${SUFFIX}?id=${target?.id ?? ''}`);
  json(res, 201, { target: target === undefined ? result.target : describe(upstream, target) });
}

async function drainTarget(gw: HasUpstreams, name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await jsonBody(req, res, false);
  if (body === undefined) return;
  const upstream = upstreamOr404(gw, name, res);
  if (upstream === undefined) return;
  const query = new URL(req.url ?? '/', 'http://admin').searchParams;
  const param = (k: string): unknown => body[k] ?? query.get(k) ?? undefined;
  const url = param('url');
  const id = param('id');
  let key: string;
  if (typeof url === 'string' && url !== '') {
    const parsed = parseTargetUrl(url);
    if (parsed === null) return error(res, 'BRISK_TARGET_INVALID', `invalid URL ${JSON.stringify(url)}`);
    key = keyOf(parsed);
  } else if (typeof id === 'string' && id !== '') {
    const t = upstream.set.find(id);
    key = t === undefined ? id : keyOf(t);
  } else {
    return error(res, 'BRISK_TARGET_INVALID', `say which target: DELETE ${PREFIX}${name}${SUFFIX}?url=http://host:port (or ?id=ID)`);
  }
  const timeout = param('timeout');
  let timeoutMs: number | undefined;
  if (timeout !== undefined) {
    timeoutMs = typeof timeout === 'string' || typeof timeout === 'number' ? durationMs(timeout) : undefined;
    if (timeoutMs === undefined || timeoutMs > MAX_DURATION_MS) return error(res, 'BRISK_TARGET_INVALID', `invalid drain timeout ${JSON.stringify(timeout)}; use a duration such as "0", "500ms" or "30s"`);
  }
  const target = upstream.set.find(key);
  const result = gw.membership(name, timeoutMs === 0 ? { op: 'remove', key } : { op: 'drain', key, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  if (result === null) return void upstreamOr404(gw, name, res);
  if (!result.ok) return error(res, result.reason === 'not-found' && target === undefined ? 'BRISK_TARGET_NOT_FOUND' : 'BRISK_ADMIN_UPSTREAM_NOT_FOUND', result.message);
  const held = upstream.set.heldOut().find((h) => h.url === key);
  json(res, 202, {
    target: target === undefined ? result.target : { ...describe(upstream, target), ...result.target },
    drainTimeoutMs: timeoutMs ?? upstream.config.drainTimeoutMs,
    ...(held === undefined ? {} : { note: `${key} is also named by ${held.sources.join(', ')}: it stays out (across reloads, not restarts) until you POST it again or no source names it any more` }),
  });
}

/** A member with its health as watchers name it (healthy, unhealthy, ejected, warming). */
function describe(upstream: Upstream, t: Target): Record<string, unknown> {
  return { ...upstream.describeTarget(t), health: targetHealth(t) };
}

function upstreamOr404(gw: HasUpstreams, name: string, res: ServerResponse): Upstream | undefined {
  const upstream = gw.runtime.upstreams.get(name);
  if (upstream === undefined) {
    const known = [...gw.runtime.upstreams.keys()];
    error(res, 'BRISK_ADMIN_UPSTREAM_NOT_FOUND', `no upstream ${JSON.stringify(name)}${known.length > 0 ? `; the configuration has ${known.map((k) => JSON.stringify(k)).join(', ')}` : ''}`);
  }
  return upstream;
}

const TARGET_EXAMPLE = '{"url": "http://host:port", "weight": 1}';

function jsonBody(req: IncomingMessage, res: ServerResponse, required: boolean): Promise<Record<string, unknown> | undefined> {
  return readJsonObject(req, res, { required, invalid: 'BRISK_TARGET_INVALID', example: TARGET_EXAMPLE, changes: 'targets' });
}
