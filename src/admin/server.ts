import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { aggregateSummary } from '../aggregate/summary.js';
import { ALERT_ADMIN_ROUTES } from './alerts.js';
import { ADMIN_CHALLENGES, adminAuth } from './auth.js';
import { serviceEndpoint } from './services.js';
import { targetEndpoint } from './targets.js';
import { WORKER_ADMIN_ROUTES } from './workers.js';
import { formatProblem, redactConfig } from '../config/load.js';
import { BriskError, type ErrorCode, ERROR_CODES } from '../core/errors.js';
import type { AdminHost } from './host.js';
import { createDashboard, type Dashboard } from './dashboard/index.js';
import { error, json, readBody } from './respond.js';
import type { CacheMiddleware, PurgeSpec } from '../middlewares/cache/index.js';

/** The admin listener. */
export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

type Handler = (gw: AdminHost, req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * The admin API: small, JSON only, off the hot path. Plain node:http because it has a
 * handful of fixed endpoints and no need for a framework's routing.
 */
const ROUTES: Record<string, Partial<Record<string, Handler>>> = {
  '/healthz': {
    GET: (_gw, _req, res) => json(res, 200, { status: 'ok' }),
  },
  '/readyz': {
    GET: (gw, _req, res) => {
      const ready = !gw.draining && gw.listeners.length > 0;
      json(res, ready ? 200 : 503, { status: ready ? 'ready' : gw.draining ? 'draining' : 'starting' });
    },
  },
  '/api/config': {
    GET: (gw, _req, res) =>
      json(res, 200, {
        version: gw.runtime.version,
        source: gw.runtime.config.source,
        lastReloadAt: gw.lastReloadAt,
        lastReloadProblems: gw.lastReloadProblems.map((p) => ({ ...p, text: formatProblem(p) })),
        config: redactConfig(gw.runtime.config),
      }),
  },
  '/api/routes': {
    GET: (gw, _req, res) =>
      json(res, 200, {
        version: gw.runtime.version,
        routes: gw.runtime.router.routes.map((r) => ({
          name: r.name,
          match: r.config.match,
          upstream: r.config.upstream || undefined,
          aggregate: r.config.aggregate === undefined ? undefined : aggregateSummary(r.config.aggregate),
          rewrite: r.config.rewrite,
          maxBodySize: r.config.maxBodySize,
        })),
      }),
  },
  '/api/upstreams': {
    GET: (gw, _req, res) => json(res, 200, { version: gw.runtime.version, upstreams: [...gw.runtime.upstreams.values()].map((u) => u.toJSON()) }),
  },
  '/api/discovery': {
    // Each discovered upstream: provider, targets in its view, staleness, where the view came from, the problem now.
    GET: (gw, _req, res) => json(res, 200, { discovery: gw.stats.discovery() }),
  },
  '/api/stats': {
    GET: (gw, req, res) => {
      const window = Number(new URL(req.url ?? '/', 'http://admin').searchParams.get('window') ?? '60');
      json(res, 200, gw.stats.snapshot(Number.isFinite(window) ? Math.min(3600, Math.max(1, Math.round(window))) : 60));
    },
  },
  '/metrics': {
    GET: async (gw, _req, res) => {
      if (!gw.stats.enabled) {
        error(res, 'BRISK_ADMIN_NOT_FOUND', 'metrics are off (metrics.enabled: false in the config)');
        return;
      }
      const text = await gw.stats.metricsText();
      res.writeHead(200, { 'content-type': gw.stats.metricsContentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
      res.end(text);
    },
  },
  '/api/status': {
    GET: (gw, _req, res) =>
      json(res, 200, {
        version: gw.runtime.version,
        draining: gw.draining,
        openConnections: gw.openConnections,
        openTunnels: gw.openTunnels,
        listeners: gw.listeners.map((l) => ({ name: l.config.name, address: `${l.host}:${l.port}`, protocol: l.protocol })),
        uptimeSeconds: Math.round(process.uptime()),
        memory: process.memoryUsage(),
        configStore: gw.stats.configRevision(),
      }),
  },
  '/api/cache': {
    GET: async (gw, _req, res) => {
      // With workers the caches that serve are theirs (the primary's serve nothing): the node's is their sum.
      if (gw.workers !== null) json(res, 200, { version: gw.runtime.version, ...(await gw.workers.cacheStats()) });
      else json(res, 200, { version: gw.runtime.version, routes: Object.fromEntries(routeCaches(gw).map(([name, c]) => [name, c.cacheStats()])) });
    },
  },
  '/api/cache/purge': {
    // POST {"url": "…"} | {"prefix": "…"} | {"tag": "…"}, optionally "route"; or the same as query parameters.
    POST: async (gw, req, res) => {
      const query = new URL(req.url ?? '/', 'http://admin').searchParams;
      let body: Record<string, unknown> = {};
      let text: string;
      try {
        text = await readBody(req);
      } catch (err) {
        error(res, 'BRISK_CACHE_PURGE_INVALID', `the purge request body could not be read: ${(err as Error).message}`);
        return;
      }
      if (text.trim() !== '') {
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          error(res, 'BRISK_CACHE_PURGE_INVALID', 'the purge request body is not valid JSON; send {"url": "…"}, {"prefix": "…"} or {"tag": "…"}');
          return;
        }
      }
      const pick = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : (query.get(k) ?? undefined));
      const url = pick('url');
      const prefix = pick('prefix');
      const tag = pick('tag');
      const route = pick('route');
      const spec: PurgeSpec | null = url !== undefined && url !== '' ? { url } : prefix !== undefined && prefix !== '' ? { prefix } : tag !== undefined && tag !== '' ? { tag } : null;
      if (spec === null) {
        error(res, 'BRISK_CACHE_PURGE_INVALID', 'name what to purge: {"url": "…"}, {"prefix": "…"} or {"tag": "…"} (JSON body or query parameters)');
        return;
      }
      const results: Record<string, { memory: number; redis: number }> = {};
      for (const [name, cache] of routeCaches(gw)) if (route === undefined || route === name) results[name] = await cache.purge(spec);
      // With workers the memory tiers are theirs: each purges its own.
      const workers = gw.workers === null ? undefined : { memory: await gw.workers.purge(spec, route ?? null) };
      json(res, 200, { purged: spec, routes: results, ...(workers === undefined ? {} : { workers }) });
    },
  },
  '/api/reload': {
    POST: async (gw, _req, res) => {
      const result = await gw.reload();
      if (result.ok) json(res, 200, { status: 'reloaded', version: result.version, restartRequired: result.restartRequired ?? [], ...(result.workers === undefined ? {} : { workers: result.workers }) });
      else {
        const code: ErrorCode = 'BRISK_RELOAD_FAILED';
        json(res, ERROR_CODES[code].status, {
          error: { code, message: 'the new configuration is invalid; the previous one keeps serving', problems: result.problems.map((p) => ({ ...p, text: formatProblem(p) })) },
        });
      }
    },
  },
  ...ALERT_ADMIN_ROUTES,
  ...WORKER_ADMIN_ROUTES,
};

/** Binds the admin listener. */
export async function startAdmin(address: { host: string; port: number; allowedHosts?: readonly string[]; token?: string }, gw: AdminHost): Promise<AdminServer> {
  const allowedHosts = new Set(address.allowedHosts ?? []);
  const unauthorized = adminAuth(address.token);
  // Made once the address is bound (no request arrives before), so a failed bind leaves no feed behind.
  let dashboard: Dashboard | null = null;
  const server = http.createServer({ requireHostHeader: false }, (req, res) => {
    const host = hostnameOf(req.headers.host);
    if (host !== null && !isIP(host) && host !== 'localhost' && !host.endsWith('.localhost') && !allowedHosts.has(host)) {
      error(res, 'BRISK_ADMIN_HOST_REJECTED', `the admin API answers only to IP addresses, localhost and admin.allowedHosts; "${host}" is none of them (a guard against DNS rebinding): add it to admin.allowedHosts`);
      return;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const refusal = unauthorized(req, path);
    if (refusal !== null) {
      res.setHeader('www-authenticate', ADMIN_CHALLENGES as string[]);
      error(res, 'BRISK_ADMIN_UNAUTHORIZED', refusal);
      return;
    }
    const endpoint = ROUTES[path] ?? targetEndpoint(path) ?? serviceEndpoint(path);
    if (endpoint === undefined) {
      if (dashboard?.handle(req, res, path) === true) return;
      error(res, 'BRISK_ADMIN_NOT_FOUND', `no admin endpoint ${path}; try /dashboard, /api/config, /api/routes, /api/upstreams, /api/upstreams/NAME/targets, /api/services, /api/workers, /api/status, /api/stats, /api/alerts, /api/silences, /metrics, /healthz, /readyz`);
      return;
    }
    const handler = endpoint[req.method ?? 'GET'] ?? (req.method === 'HEAD' ? endpoint.GET : undefined);
    if (handler === undefined) {
      res.setHeader('allow', Object.keys(endpoint).join(', '));
      error(res, 'BRISK_ADMIN_METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}`);
      return;
    }
    // Drain any body so the connection stays usable; only the purge endpoint reads one (the
    // others that do attach their reader before the stream starts flowing).
    if (path !== '/api/cache/purge') req.resume();
    Promise.resolve(handler(gw, req, res)).catch((err: unknown) => {
      gw.logger.error({ err }, 'admin API error');
      if (!res.headersSent) error(res, 'BRISK_INTERNAL', 'internal error; see the gateway log');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new BriskError('BRISK_LISTEN_FAILED', `admin listener cannot bind ${address.host}:${address.port}: ${err.code === 'EADDRINUSE' ? 'the address is already in use' : err.message}`, { cause: err })),
    );
    server.listen({ host: address.host, port: address.port }, resolve);
  });
  dashboard = createDashboard(gw);
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : address.port,
    close: () =>
      new Promise<void>((resolve) => {
        dashboard?.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The route caches of the configuration in force, by route name. */
function routeCaches(gw: AdminHost): [string, CacheMiddleware][] {
  const out: [string, CacheMiddleware][] = [];
  const rt = gw.runtime;
  rt.config.routes.forEach((route, i) => {
    // By name (a middleware is named by its config key), not instanceof: the cache module
    // is loaded only when some route uses it (src/middlewares/pipeline.ts).
    for (const m of rt.pipelineOfRoute[i] ?? []) if (m.name === 'cache') out.push([route.name, m as CacheMiddleware]);
  });
  return out;
}


/** The host name of a `Host` header, lower case, without port or IPv6 brackets; null when absent or empty. */
function hostnameOf(value: string | undefined): string | null {
  if (value === undefined || value === '') return null;
  const v = value.trim().toLowerCase();
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    return end === -1 ? v : v.slice(1, end);
  }
  const colon = v.indexOf(':');
  return colon === -1 ? v : v.slice(0, colon);
}
