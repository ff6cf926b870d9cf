/**
 * A test double of the orders service's HTTP API, on loopback, built on the toolkit like
 * the real one: `GET /orders/:id` answers the orders it was given, 404 for others, 403
 * when the order belongs to another user (the `Authorization: Bearer <user>` of the
 * caller), and 503 while `down` is set.
 */
import { createService, json, type Service } from '@brisk/service';
import { pino } from 'pino';

export interface OrdersDouble {
  service: Service;
  url: string;
  /** Orders by id, with the user who owns them. */
  orders: Map<string, { owner: string; body: Record<string, unknown> }>;
  /** Every lookup seen: id and the Authorization header. */
  seen: { id: string; authorization: string | undefined }[];
  down: boolean;
  stop(): Promise<void>;
}

export async function startOrdersDouble(path = '/orders/:id'): Promise<OrdersDouble> {
  const double: Partial<OrdersDouble> & { down: boolean; orders: OrdersDouble['orders']; seen: OrdersDouble['seen'] } = { down: false, orders: new Map(), seen: [] };
  const service = createService({ name: 'orders-double', logger: pino({ level: 'silent' }), handleSignals: false }).route('GET', path, async (ctx) => {
    const authorization = ctx.req.headers['authorization'];
    double.seen.push({ id: ctx.params['id']!, authorization });
    if (double.down) return json(503, { error: { code: 'DOWN', message: 'down for the test', requestId: ctx.requestId } });
    const order = double.orders.get(ctx.params['id']!);
    if (order === undefined) return json(404, { error: { code: 'NOT_FOUND', message: 'no such order', requestId: ctx.requestId } });
    if (authorization !== `Bearer ${order.owner}`) return json(403, { error: { code: 'FORBIDDEN', message: 'not your order', requestId: ctx.requestId } });
    return order.body;
  });
  await service.start();
  return Object.assign(double, { service, url: service.url, stop: () => service.stop() }) as OrdersDouble;
}
