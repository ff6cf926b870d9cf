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
import { errorBody, ERROR_CODES, type ErrorCode } from '../core/errors.js';
import type { AlertingService } from './index.js';
import { SilenceInputError } from './silences.js';

/** What the handlers need of the gateway. */
export interface HasAlerting {
  readonly alerting: AlertingService | null;
}

type Handler = (gw: HasAlerting, req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

const MAX_BODY = 64 * 1024;

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
        return error(res, 'BRISK_SILENCE_INVALID', e instanceof BodyTooLarge ? 'the body is larger than 64kb' : 'the body is not valid JSON');
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

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => (size > MAX_BODY ? reject(new BodyTooLarge()) : resolve(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function error(res: ServerResponse, code: ErrorCode, message: string): void {
  const body = errorBody(code, message, undefined);
  res.writeHead(ERROR_CODES[code].status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
