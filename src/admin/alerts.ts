/**
 * The admin API's alerting endpoints, merged into the admin routes by
 * `src/admin/server.ts`:
 *
 *     GET    /api/alerts                 alerts (pending, firing, recently resolved), rules, queue
 *     GET    /api/silences               silences in force
 *     POST   /api/silences               {"matchers":[{"name":"upstream","value":"products"}],"duration":"2h","comment":"deploy"}
 *     DELETE /api/silences?id=ID         ends a silence
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLargeError, error, json, readBody } from './respond.js';
import type { AlertingService } from '../alerting/index.js';
import { SilenceInputError } from '../alerting/silences.js';

/** What the handlers need of the gateway. */
export interface HasAlerting {
  readonly alerting: AlertingService | null;
}

type Handler = (gw: HasAlerting, req: IncomingMessage, res: ServerResponse) => void | Promise<void>;


export const ALERT_ADMIN_ROUTES: Record<string, Partial<Record<string, Handler>>> = {
  '/api/alerts': {
    GET: (gw, _req, res) => {
      const a = gw.alerting;
      if (a === null) return json(res, 200, { enabled: false, alerts: [], rules: [], queue: { pending: 0, items: [] } });
      json(res, 200, { enabled: a.enabled, alerts: a.engine.list(), rules: a.engine.rules(), queue: a.queue.status() });
    },
  },
  '/api/silences': {
    GET: (gw, _req, res) => {
      const a = gw.alerting;
      json(res, 200, { silences: a === null ? [] : a.silences.list().map(view) });
    },
    POST: async (gw, req, res) => {
      const a = gw.alerting;
      if (a === null) return error(res, 'BRISK_ALERTING_OFF', 'alerting is not running in this gateway');
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req));
      } catch (e) {
        return error(res, 'BRISK_SILENCE_INVALID', e instanceof BodyTooLargeError ? e.message : 'the body is not valid JSON');
      }
      try {
        json(res, 201, { silence: view(a.silences.add(body)) });
      } catch (e) {
        if (e instanceof SilenceInputError) return error(res, 'BRISK_SILENCE_INVALID', e.message);
        throw e;
      }
    },
    DELETE: (gw, req, res) => {
      const a = gw.alerting;
      const id = new URL(req.url ?? '/', 'http://admin').searchParams.get('id');
      if (id === null || id === '') return error(res, 'BRISK_SILENCE_INVALID', 'say which silence: DELETE /api/silences?id=ID');
      if (a === null || !a.silences.remove(id)) return error(res, 'BRISK_SILENCE_NOT_FOUND', `no silence ${JSON.stringify(id)} (it may have expired)`);
      json(res, 200, { deleted: id });
    },
  },
};

function view(s: { id: string; matchers: readonly unknown[]; startsAt: number; endsAt: number; createdBy: string; comment: string }): object {
  return { ...s, startsAt: new Date(s.startsAt).toISOString(), endsAt: new Date(s.endsAt).toISOString() };
}

