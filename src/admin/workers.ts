import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminHost } from './host.js';
import { json } from './respond.js';

type Handler = (gw: AdminHost, req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * `GET /api/workers`: the data-plane workers (slot, pid, state, the config version each
 * serves, requests and share, heartbeat age, restarts), or one process when there are
 * none. `POST /api/workers/restart`: a rolling restart, answered when every worker was
 * replaced.
 */
export const WORKER_ADMIN_ROUTES: Record<string, Partial<Record<string, Handler>>> = {
  '/api/workers': {
    GET: (gw, _req, res) => {
      const w = gw.workers;
      json(res, 200, { version: gw.runtime.version, mode: w === null ? 'single' : 'workers', workers: w === null ? [] : w.list(), spare: w === null ? null : w.spare(), rescuedConnections: w === null ? null : w.rescued() });
    },
  },
  '/api/workers/restart': {
    POST: async (gw, _req, res) => {
      const w = gw.workers;
      if (w === null) {
        json(res, 200, { status: 'single process: nothing to restart (start with --workers N)', workers: [] });
        return;
      }
      const started = Date.now();
      await w.restart();
      json(res, 200, { status: 'restarted', ms: Date.now() - started, workers: w.list() });
    },
  },
};
