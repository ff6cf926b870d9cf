#!/usr/bin/env node
/**
 * Demo "products" service: one instance of a small catalogue API, run three times by
 * examples/demo/run.mjs behind Brisk. Node built-ins only.
 *
 *   PORT=7101 INSTANCE=1 node examples/demo/services/products.mjs
 *
 *   GET  /api/products            the catalogue, with the instance that answered
 *   GET  /api/products/:id        one product (404 when unknown)
 *   POST /api/products            add a product: {"name": "...", "price": 9.5} → 201
 *   GET  /api/products/slow?ms=N  answers after N ms (at most 60000), to try timeouts
 *   GET  /api/products/stream     server-sent events: 5 ticks, one every 500 ms
 *   GET  /healthz                 {"status":"ok"}
 *
 * Each instance keeps its own list in memory: a product added through one instance is
 * not seen by the others (that is what load balancing looks like without a database).
 */
import { createServer } from 'node:http';
import { jsonSender, serve } from './serve.mjs';

const port = Number(process.env.PORT ?? 7101);
const host = process.env.HOST ?? '127.0.0.1';
const instance = process.env.INSTANCE ?? '1';
const servedBy = `products-${instance}`;
const MAX_BODY = 64 * 1024;

const products = [
  { id: 1, name: 'Espresso beans, 1 kg', price: 24.5, stock: 40 },
  { id: 2, name: 'Pour-over kettle', price: 59.0, stock: 12 },
  { id: 3, name: 'Ceramic dripper', price: 22.0, stock: 30 },
  { id: 4, name: 'Hand grinder', price: 89.9, stock: 7 },
  { id: 5, name: 'Paper filters (100)', price: 6.5, stock: 200 },
  { id: 6, name: 'Milk frothing jug', price: 18.0, stock: 25 },
];
let nextId = products.length + 1;

const send = jsonSender(servedBy);

function notFound(res, what) {
  send(res, 404, { error: 'not found', detail: what, servedBy });
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(Object.assign(new Error(`body larger than ${MAX_BODY} bytes`), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null'));
      } catch {
        reject(Object.assign(new Error('body is not valid JSON'), { status: 400 }));
      }
    });
    req.on('error', reject);
  });
}

async function create(req, res) {
  const body = await readJson(req);
  const name = typeof body?.name === 'string' ? body.name.trim() : '';
  const price = body?.price;
  if (name === '' || typeof price !== 'number' || !Number.isFinite(price) || price < 0) {
    send(res, 400, { error: 'expected {"name": string, "price": number >= 0}', servedBy });
    return;
  }
  const product = { id: nextId++, name, price, stock: Number.isInteger(body.stock) ? body.stock : 0 };
  products.push(product);
  send(res, 201, { ...product, servedBy }, { location: `/api/products/${product.id}` });
}

function slow(req, res, url) {
  const ms = Math.min(Math.max(Number(url.searchParams.get('ms') ?? 500) || 0, 0), 60_000);
  const timer = setTimeout(() => send(res, 200, { waitedMs: ms, servedBy }), ms);
  res.on('close', () => clearTimeout(timer));
}

function stream(req, res) {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-served-by': servedBy,
  });
  let tick = 0;
  const emit = () => {
    tick += 1;
    res.write(`id: ${tick}\nevent: tick\ndata: ${JSON.stringify({ tick, of: 5, servedBy, at: new Date().toISOString() })}\n\n`);
    if (tick === 5) {
      clearInterval(timer);
      res.end();
    }
  };
  const timer = setInterval(emit, 500);
  res.write(': stream from ' + servedBy + '\n\n');
  res.on('close', () => clearInterval(timer));
}

async function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';

  if (path === '/healthz') return send(res, 200, { status: 'ok', servedBy });

  if (path === '/api/products') {
    if (method === 'GET' || method === 'HEAD') return send(res, 200, { servedBy, count: products.length, products });
    if (method === 'POST') return create(req, res);
    return send(res, 405, { error: `${method} not allowed`, servedBy }, { allow: 'GET, HEAD, POST' });
  }
  if (path === '/api/products/slow') return slow(req, res, url);
  if (path === '/api/products/stream') return stream(req, res);

  const match = /^\/api\/products\/([^/]+)$/.exec(path);
  if (match) {
    if (method !== 'GET' && method !== 'HEAD') return send(res, 405, { error: `${method} not allowed`, servedBy }, { allow: 'GET, HEAD' });
    const product = products.find((p) => String(p.id) === match[1]);
    return product ? send(res, 200, { ...product, servedBy }) : notFound(res, `no product with id ${match[1]}`);
  }
  return notFound(res, `${method} ${url.pathname}`);
}

const server = createServer((req, res) => {
  handle(req, res).catch((error) => {
    if (res.headersSent) res.destroy();
    else send(res, error.status ?? 500, { error: error.message, servedBy });
  });
});

serve(server, { host, port, servedBy });
