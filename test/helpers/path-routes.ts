/**
 * A backend handler whose answer each test chooses per path (tests use their own paths,
 * so they share no state), counting and recording the requests every path got.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';

/** Answers one request; `n` is the how-many-th request to this path it is (1-based). */
export type PathHandler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

export class PathRoutes {
  readonly handlers = new Map<string, PathHandler>();
  /** Requests per path so far. */
  readonly hits = new Map<string, number>();
  /** The request headers each path got, in order. */
  readonly seen = new Map<string, IncomingHttpHeaders[]>();

  /** Serves `path` with `handler` from now on; returns the path. */
  on(path: string, handler: PathHandler): string {
    this.handlers.set(path, handler);
    this.hits.set(path, 0);
    this.seen.set(path, []);
    return path;
  }

  /** The handler to give `startBackend`: unknown paths get a 404. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0]!;
    const h = this.handlers.get(path);
    if (h === undefined) {
      res.writeHead(404);
      res.end();
      return;
    }
    const n = (this.hits.get(path) ?? 0) + 1;
    this.hits.set(path, n);
    this.seen.get(path)!.push(req.headers);
    req.resume();
    req.on('end', () => h(req, res, n));
  };
}
