import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody, ERROR_CODES, type ErrorCode } from '../../core/errors.js';
import { AssetStore } from './assets.js';
import { DashboardFeed, DEFAULT_FEED_OPTIONS, type FeedOptions, type FeedSource } from './stream.js';

export { DashboardFeed, toSample, type FeedOptions, type FeedSource, type Point, type Sample, type StatsFrame } from './stream.js';

/**
 * Nothing inline, nothing from elsewhere: the page is one HTML file, its stylesheet and its
 * ES modules, all from this listener, and it only talks back to it. Data from the gateway
 * (route names, reasons, messages) is set as text, never as markup; this policy is the
 * second line should that ever slip.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const ASSET_PREFIX = '/dashboard/assets/';

/** The dashboard's part of the admin listener. */
export interface Dashboard {
  /** Answers the request when the path is the dashboard's (true), else leaves it alone (false). */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean;
  /** Ends the live streams and stops sampling. */
  close(): void;
  readonly feed: DashboardFeed;
}

/**
 * The page (`GET /dashboard`, `/` redirects there), its files (`/dashboard/assets/*`) and
 * its live feed (`GET /api/stream`).
 *
 * @example
 * const dashboard = createDashboard(gw);
 * http.createServer((req, res) => {
 *   if (!dashboard.handle(req, res, new URL(req.url!, 'http://x').pathname)) notFound(res);
 * });
 */
export function createDashboard(source: FeedSource, options: { feed?: Partial<FeedOptions>; assets?: AssetStore } = {}): Dashboard {
  const feed = new DashboardFeed(source, { ...DEFAULT_FEED_OPTIONS, ...options.feed });
  const assets = options.assets ?? new AssetStore();
  feed.start();

  const serveAsset = (req: IncomingMessage, res: ServerResponse, name: string): void => {
    let asset;
    try {
      asset = assets.get(name);
    } catch (err) {
      source.logger.error({ err }, 'dashboard: cannot read its files');
      fail(res, 'BRISK_INTERNAL', 'the dashboard files cannot be read; see the gateway log');
      return;
    }
    if (asset === undefined) {
      fail(res, 'BRISK_ADMIN_NOT_FOUND', `no dashboard file ${JSON.stringify(name)}`);
      return;
    }
    const headers = {
      ...SECURITY_HEADERS,
      'content-type': asset.contentType,
      etag: asset.etag,
      // File names carry no hash (there is no build step), so a browser must ask whether its
      // copy is current; an unchanged file costs a 304 and no body.
      'cache-control': 'no-cache',
    };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  };

  const route = (req: IncomingMessage, res: ServerResponse, path: string): boolean => {
    const isPage = path === '/' || path === '/dashboard' || path === '/dashboard/';
    const isAsset = path.startsWith(ASSET_PREFIX);
    const isStream = path === '/api/stream';
    if (!isPage && !isAsset && !isStream) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      fail(res, 'BRISK_ADMIN_METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}`);
      return true;
    }
    req.resume();
    if (path === '/') {
      res.writeHead(302, { location: '/dashboard', 'content-length': 0, 'cache-control': 'no-store' });
      res.end();
    } else if (isPage) serveAsset(req, res, 'index.html');
    else if (isAsset) {
      const name = path.slice(ASSET_PREFIX.length);
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name === 'index.html') fail(res, 'BRISK_ADMIN_NOT_FOUND', `no dashboard file ${JSON.stringify(name)}`);
      else serveAsset(req, res, name);
    } else if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' });
      res.end();
    } else if (!feed.open(req, res)) {
      res.setHeader('retry-after', '10');
      fail(res, 'BRISK_ADMIN_TOO_MANY_STREAMS', `the admin listener already serves ${feed.clientCount} live streams, its limit; close a dashboard tab or retry later`);
    }
    return true;
  };

  return {
    feed,
    close: () => feed.close(),
    handle(req, res, path) {
      try {
        return route(req, res, path);
      } catch (err) {
        // Called synchronously from the admin listener's request handler: a throw here would
        // be an uncaught exception.
        source.logger.error({ err }, 'dashboard: request failed');
        if (!res.headersSent) fail(res, 'BRISK_INTERNAL', 'internal error; see the gateway log');
        else res.destroy();
        return true;
      }
    },
  };
}

function fail(res: ServerResponse, code: ErrorCode, message: string): void {
  const body = errorBody(code, message, undefined);
  res.writeHead(ERROR_CODES[code].status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
