/**
 * The admin API's endpoints for the services Brisk runs, routed by `src/admin/server.ts`:
 *
 *     GET  /api/services                  every service with its instances (pid, port, state, restarts and why, uptime, RSS, CPU)
 *     GET  /api/services/NAME             one service
 *     POST /api/services/NAME/restart     {} | {"instance": 3} | {"wait": true}  → 202 (200 with wait)
 *     POST /api/services/NAME/scale       {"instances": 4} | {"auto": true}      → 200
 *
 * A restart is rolling: each instance is replaced in turn, the replacement ready before
 * the old one is drained (out of the balancer, its requests in flight finished) and
 * stopped, so no request fails. POSTs need `Content-Type: application/json`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ServiceOperationError, type ServicesView } from '../supervisor/types.js';
import { error, json, readJsonObject } from './respond.js';

/** What the handlers need of the gateway. */
export interface HasServices {
  readonly services: ServicesView;
}

type Handler = (gw: HasServices, req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

const PREFIX = '/api/services';

/**
 * The endpoint for `path` when it is one of the services', else undefined.
 *
 * @example
 * const endpoint = ROUTES[path] ?? serviceEndpoint(path);
 */
export function serviceEndpoint(path: string): Partial<Record<string, Handler>> | undefined {
  if (path === PREFIX || path === `${PREFIX}/`) return { GET: (gw, _req, res) => json(res, 200, { services: gw.services.list() }) };
  if (!path.startsWith(`${PREFIX}/`)) return undefined;
  const parts = path.slice(PREFIX.length + 1).split('/');
  if (parts.length > 2 || parts[0] === '') return undefined;
  let name: string;
  try {
    name = decodeURIComponent(parts[0]!);
  } catch {
    return undefined;
  }
  const action = parts[1];
  if (action === undefined) {
    return {
      GET: (gw, _req, res) => {
        const s = gw.services.get(name);
        if (s === undefined) return error(res, 'BRISK_SERVICE_NOT_FOUND', notFound(gw, name));
        json(res, 200, s);
      },
    };
  }
  if (action === 'restart') return { POST: (gw, req, res) => restart(gw, name, req, res) };
  if (action === 'scale') return { POST: (gw, req, res) => scale(gw, name, req, res) };
  return undefined;
}

async function restart(gw: HasServices, name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJsonObject(req, res, { required: false, invalid: 'BRISK_SERVICE_REQUEST_INVALID', example: '{} (every instance, one after the other) or {"instance": 3}', changes: 'services' });
  if (body === undefined) return;
  const unknown = Object.keys(body).filter((k) => k !== 'instance' && k !== 'wait');
  if (unknown.length > 0) return error(res, 'BRISK_SERVICE_REQUEST_INVALID', `unknown key ${JSON.stringify(unknown[0])}; send {}, {"instance": 3} or {"wait": true}`);
  const instance = body['instance'];
  if (instance !== undefined && (typeof instance !== 'number' || !Number.isInteger(instance))) return error(res, 'BRISK_SERVICE_REQUEST_INVALID', '"instance" is an instance number (the `id` in GET /api/services/NAME)');
  const wait = body['wait'] ?? false;
  if (typeof wait !== 'boolean') return error(res, 'BRISK_SERVICE_REQUEST_INVALID', '"wait" is true or false');
  let started;
  try {
    started = gw.services.restart(name, instance === undefined ? {} : { instance });
  } catch (err) {
    return fail(res, err);
  }
  if (!wait) {
    json(res, 202, { service: name, status: 'restarting', instances: started.instances, note: `GET ${PREFIX}/${name} shows the progress (rollout)` });
    return;
  }
  const result = await started.done;
  if (!result.ok) return error(res, 'BRISK_SERVICE_RESTART_FAILED', `the rolling restart of ${name} stopped early: ${result.message}; the instances not yet replaced keep running`);
  json(res, 200, { service: name, status: 'restarted', instances: started.instances, message: result.message, now: gw.services.get(name) });
}

async function scale(gw: HasServices, name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJsonObject(req, res, { required: true, invalid: 'BRISK_SERVICE_REQUEST_INVALID', example: '{"instances": 4} or {"auto": true}', changes: 'services' });
  if (body === undefined) return;
  const keys = Object.keys(body);
  const count = body['instances'];
  const auto = body['auto'];
  if (keys.length !== 1 || (count === undefined && auto !== true)) return error(res, 'BRISK_SERVICE_REQUEST_INVALID', 'send {"instances": N} to set the count (autoscaling pauses), or {"auto": true} to hand it back to the autoscaler');
  if (count !== undefined && (typeof count !== 'number' || !Number.isInteger(count))) return error(res, 'BRISK_SERVICE_REQUEST_INVALID', '"instances" is a whole number');
  try {
    json(res, 200, gw.services.scale(name, auto === true ? 'auto' : (count as number)));
  } catch (err) {
    fail(res, err);
  }
}

function fail(res: ServerResponse, err: unknown): void {
  if (!(err instanceof ServiceOperationError)) throw err;
  error(res, err.code, err.message);
}

function notFound(gw: HasServices, name: string): string {
  const known = gw.services.list().map((s) => JSON.stringify(s.name));
  return `no service ${JSON.stringify(name)}${known.length > 0 ? `; the configuration has ${known.join(', ')}` : ' (the configuration has no services section)'}`;
}
