/**
 * The service's routes: method + path pattern (`/orders/:id`), matched segment by
 * segment. A service has a handful of routes, so a list scanned in order is as fast as a
 * tree and keeps the precedence obvious (first declared wins).
 */
export interface RouteMatch<H> {
  handler: H;
  params: Record<string, string>;
  pattern: string;
}

interface Route<H> {
  method: string;
  pattern: string;
  segments: string[];
  handler: H;
}

export class Router<H> {
  readonly #routes: Route<H>[] = [];

  add(method: string, pattern: string, handler: H): void {
    if (!pattern.startsWith('/')) throw new Error(`route pattern "${pattern}" must start with "/"`);
    this.#routes.push({ method: method.toUpperCase(), pattern, segments: split(pattern), handler });
  }

  /** The route for a request, `'method'` when the path exists under other methods, or undefined. */
  match(method: string, path: string): RouteMatch<H> | { allow: string[] } | undefined {
    const segments = split(path);
    const allow: string[] = [];
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, segments);
      if (params === undefined) continue;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { handler: route.handler, params, pattern: route.pattern };
      allow.push(route.method);
    }
    return allow.length > 0 ? { allow } : undefined;
  }
}

function split(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

function matchSegments(pattern: string[], path: string[]): Record<string, string> | undefined {
  if (pattern.length !== path.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const s = path[i]!;
    if (p.startsWith(':')) {
      try {
        params[p.slice(1)] = decodeURIComponent(s);
      } catch {
        return undefined;
      }
    } else if (p !== s) return undefined;
  }
  return params;
}
