#!/usr/bin/env node
/**
 * Demo "orders" service, run by examples/demo/run.mjs behind Brisk. Node built-ins only.
 * Orders refer to users (users service) and products (products service) by id; the
 * gateway's `order-details` aggregate route combines the three in one answer.
 *
 *   PORT=7301 INSTANCE=1 node examples/demo/services/orders.mjs
 *
 *   GET /api/orders             all orders
 *   GET /api/orders/:id         one order (404 when unknown)
 *   GET /api/orders/:id?ms=N    the same, answered after N ms (at most 60000), to try timeouts
 *   GET /healthz                {"status":"ok"}
 */
import { createServer } from 'node:http';
import { jsonSender, serve } from './serve.mjs';

const port = Number(process.env.PORT ?? 7301);
const host = process.env.HOST ?? '127.0.0.1';
const instance = process.env.INSTANCE ?? '1';
const servedBy = `orders-${instance}`;

const orders = [
  { id: 1, userId: 2, status: 'shipped', createdAt: '2026-11-02T09:14:00Z', productIds: [1, 3, 5], items: [{ productId: 1, quantity: 1 }, { productId: 3, quantity: 1 }, { productId: 5, quantity: 2 }] },
  { id: 2, userId: 1, status: 'paid', createdAt: '2026-11-18T16:40:00Z', productIds: [4], items: [{ productId: 4, quantity: 1 }] },
  { id: 3, userId: 3, status: 'open', createdAt: '2026-11-24T08:05:00Z', productIds: [2, 6], items: [{ productId: 2, quantity: 1 }, { productId: 6, quantity: 1 }] },
  // User 42 does not exist: /api/orders/4/details shows how a failing optional part looks.
  { id: 4, userId: 42, status: 'open', createdAt: '2026-11-25T07:30:00Z', productIds: [1], items: [{ productId: 1, quantity: 3 }] },
];

const send = jsonSender(servedBy);

function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  req.resume();

  if (path === '/healthz') return send(res, 200, { status: 'ok', servedBy });
  if (!path.startsWith('/api/orders')) return send(res, 404, { error: 'not found', detail: `${method} ${url.pathname}`, servedBy });
  if (method !== 'GET' && method !== 'HEAD') return send(res, 405, { error: `${method} not allowed`, servedBy }, { allow: 'GET, HEAD' });

  if (path === '/api/orders') return send(res, 200, { servedBy, count: orders.length, orders });
  const match = /^\/api\/orders\/([^/]+)$/.exec(path);
  if (match) {
    const order = orders.find((o) => String(o.id) === match[1]);
    const answer = () => (order ? send(res, 200, { ...order, servedBy }) : send(res, 404, { error: 'not found', detail: `no order with id ${match[1]}`, servedBy }));
    const ms = Math.min(Math.max(Number(url.searchParams.get('ms') ?? 0) || 0, 0), 60_000);
    if (ms === 0) return answer();
    const timer = setTimeout(answer, ms);
    res.on('close', () => clearTimeout(timer));
    return;
  }
  return send(res, 404, { error: 'not found', detail: `${method} ${url.pathname}`, servedBy });
}

const server = createServer((req, res) => {
  try {
    handle(req, res);
  } catch (error) {
    if (res.headersSent) res.destroy();
    else send(res, 500, { error: error.message, servedBy });
  }
});

serve(server, { host, port, servedBy });
