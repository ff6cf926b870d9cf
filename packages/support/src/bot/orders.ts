/**
 * Order status for the bot: a small interface, and its implementation over the orders
 * service's HTTP API. The bot never reads the orders database: the orders service owns
 * its data and decides who may see an order, so the customer's own credentials (the
 * `Authorization` header of the WebSocket upgrade, which Brisk verified) are passed on
 * and a 401/403/404 reads as "no such order on your account".
 */
import { callService } from '@brisk/service';

/** What the bot tells about an order. */
export interface OrderView {
  id: string;
  status: string;
  total?: number;
  currency?: string;
  items?: { name: string; quantity: number }[];
  tracking?: { carrier?: string; number?: string };
  /** Why it was cancelled, when it was. */
  reason?: string;
  updatedAt?: string;
}

export type OrderLookup = { found: true; order: OrderView } | { found: false; reason: 'not-found' | 'forbidden' };

/** Who asks (forwarded to the orders service). */
export interface Asker {
  authorization?: string;
  userId?: string;
}

/** Where the bot finds orders. */
export interface OrdersApi {
  /** Looks one order up; rejects when the service cannot answer (the bot apologises). */
  order(id: string, asker: Asker, signal?: AbortSignal): Promise<OrderLookup>;
}

export interface HttpOrdersOptions {
  /** Base URL of the orders service (or of Brisk's route to it). */
  baseUrl: string;
  /** Path of one order, `{id}` replaced (default `/orders/{id}`). */
  path?: string;
  /** Time allowed for one lookup (default 2000 ms). */
  timeoutMs?: number;
}

/** The orders service's `GET /orders/{id}` (the path is configurable). */
export class HttpOrdersApi implements OrdersApi {
  readonly #options: Required<HttpOrdersOptions>;

  /** Throws when `baseUrl` is not an http(s) URL or `path` has no `{id}`: start-up errors. */
  constructor(options: HttpOrdersOptions) {
    this.#options = { path: '/orders/{id}', timeoutMs: 2000, ...options, baseUrl: options.baseUrl.replace(/\/+$/, '') };
    let protocol: string;
    try {
      protocol = new URL(this.#options.baseUrl).protocol;
    } catch {
      throw new Error(`support: the orders URL "${options.baseUrl}" is not a URL (SUPPORT_ORDERS_URL, e.g. http://127.0.0.1:8080/api)`);
    }
    if (protocol !== 'http:' && protocol !== 'https:') throw new Error(`support: the orders URL "${options.baseUrl}" must be http:// or https://`);
    if (!this.#options.path.includes('{id}')) throw new Error(`support: the orders path "${this.#options.path}" has no {id} (SUPPORT_ORDERS_PATH, e.g. /orders/{id})`);
  }

  async order(id: string, asker: Asker, signal?: AbortSignal): Promise<OrderLookup> {
    const url = this.#options.baseUrl + this.#options.path.replace('{id}', encodeURIComponent(id));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (asker.authorization !== undefined) headers['authorization'] = asker.authorization;
    if (asker.userId !== undefined) headers['x-user-id'] = asker.userId;
    const timeout = AbortSignal.timeout(this.#options.timeoutMs);
    const response = await callService(url, { headers, signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]) });
    if (response.status === 404) return { found: false, reason: 'not-found' };
    if (response.status === 401 || response.status === 403) return { found: false, reason: 'forbidden' };
    if (!response.ok) throw new Error(`orders service answered ${response.status} for order ${id}`);
    return { found: true, order: readOrder(await response.json(), id) };
  }
}

/**
 * The order from the service's body, whatever its exact shape: `{order: {...}}` or the
 * order itself, status under `status` or `state`, items (or `lines`, as the shop's orders
 * service calls them) with `name`/`title` and `quantity`/`qty`, `total` or `totalCents`.
 * The bot only reads; a field it does not find is left out.
 */
export function readOrder(body: unknown, id: string): OrderView {
  const o = (isRecord(body) && isRecord(body['order']) ? body['order'] : body) as Record<string, unknown>;
  if (!isRecord(o)) throw new Error(`orders service: order ${id} is not a JSON object`);
  const status = typeof o['status'] === 'string' ? o['status'] : typeof o['state'] === 'string' ? o['state'] : 'unknown';
  const view: OrderView = { id: String(o['id'] ?? id), status };
  const total = o['total'] ?? o['totalCents'];
  if (typeof total === 'number') view.total = 'totalCents' in o && !('total' in o) ? total / 100 : total;
  if (typeof o['currency'] === 'string') view.currency = o['currency'];
  const items = Array.isArray(o['items']) ? o['items'] : Array.isArray(o['lines']) ? o['lines'] : undefined;
  if (items !== undefined) {
    view.items = items.filter(isRecord).map((item) => ({ name: String(item['name'] ?? item['title'] ?? item['productId'] ?? '?'), quantity: Number(item['quantity'] ?? item['qty'] ?? 1) }));
  }
  const tracking = o['tracking'] ?? o['shipment'];
  if (isRecord(tracking)) view.tracking = { carrier: str(tracking['carrier']), number: str(tracking['number'] ?? tracking['trackingNumber']) };
  if (typeof o['reason'] === 'string' && o['reason'] !== '') view.reason = o['reason'];
  const updated = o['updatedAt'] ?? o['updated_at'];
  if (typeof updated === 'string') view.updatedAt = updated;
  return view;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
