#!/usr/bin/env node
/**
 * Demo "users" service, run by examples/demo/run.mjs behind Brisk. Node built-ins only.
 *
 *   PORT=7201 INSTANCE=1 node examples/demo/services/users.mjs
 *
 *   GET /api/users          all users
 *   GET /api/users/:id      one user (404 when unknown)
 *   GET /api/users/whoami   what this service received: the forwarding headers the
 *                           gateway added (X-Forwarded-For, X-Request-Id, Via, ...)
 *                           and every other header, to see what Brisk changes
 *   GET /healthz            {"status":"ok"}
 */
import { createServer } from 'node:http';
import { jsonSender, serve } from './serve.mjs';

const port = Number(process.env.PORT ?? 7201);
const host = process.env.HOST ?? '127.0.0.1';
const instance = process.env.INSTANCE ?? '1';
const servedBy = `users-${instance}`;

const users = [
  { id: 1, name: 'Ada Lovelace', email: 'ada@example.com', role: 'admin' },
  { id: 2, name: 'Grace Hopper', email: 'grace@example.com', role: 'editor' },
  { id: 3, name: 'Alan Turing', email: 'alan@example.com', role: 'viewer' },
  { id: 4, name: 'Margaret Hamilton', email: 'margaret@example.com', role: 'editor' },
];

/** Headers a proxy adds or rewrites; shown first by /whoami. */
const FORWARDING = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded', 'x-request-id', 'via', 'host'];

const send = jsonSender(servedBy);

function whoami(req, res) {
  const forwarding = {};
  for (const name of FORWARDING) forwarding[name] = req.headers[name] ?? null;
  send(res, 200, {
    servedBy,
    peer: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
    method: req.method,
    url: req.url,
    forwarding,
    headers: req.headers,
  });
}

function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  // Drain any request body: this service reads none, but must not leave it unread.
  req.resume();

  if (path === '/healthz') return send(res, 200, { status: 'ok', servedBy });
  if (!path.startsWith('/api/users')) return send(res, 404, { error: 'not found', detail: `${method} ${url.pathname}`, servedBy });
  if (method !== 'GET' && method !== 'HEAD') return send(res, 405, { error: `${method} not allowed`, servedBy }, { allow: 'GET, HEAD' });

  if (path === '/api/users') return send(res, 200, { servedBy, count: users.length, users });
  if (path === '/api/users/whoami') return whoami(req, res);
  const match = /^\/api\/users\/([^/]+)$/.exec(path);
  if (match) {
    const user = users.find((u) => String(u.id) === match[1]);
    return user ? send(res, 200, { ...user, servedBy }) : send(res, 404, { error: 'not found', detail: `no user with id ${match[1]}`, servedBy });
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
