/** Fixtures for the router tests: routes built in place, and requests matched by name. */
import type { RouteConfig, RouteMatch } from '../config/types.js';
import type { RouteMatchResult, Router } from './index.js';

export type Headers = Record<string, string | string[] | undefined>;

let nextIndex = 0;
export function route(name: string, match: Partial<RouteMatch> = {}, extra: Partial<RouteConfig> = {}): RouteConfig {
  return {
    name,
    index: nextIndex++,
    upstream: 'u',
    maxBodySize: 0,
    match: { hosts: [], methods: [], headers: {}, query: {}, ...match },
    ...extra,
  };
}

export interface Req {
  method?: string;
  host?: string;
  path: string;
  query?: string;
  headers?: Headers;
}

export function hit(router: Router, req: Req): RouteMatchResult | null {
  return router.match(req.method ?? 'GET', req.host, req.path, req.query ?? '', req.headers ?? {});
}

export function winner(router: Router, req: Req): string | null {
  return hit(router, req)?.route.name ?? null;
}
