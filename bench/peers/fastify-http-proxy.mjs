// Peer: @fastify/http-proxy on fastify (logger off), forwarding with its default
// undici pool (@fastify/reply-from: 128 connections per origin, keep-alive).
//
// Usage: PORT=8004 UPSTREAM=http://127.0.0.1:7001 node bench/peers/fastify-http-proxy.mjs
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';
import { argValue, watchParent } from '../lib/child-args.mjs';

const port = Number(argValue('port', 'PORT', '0'));
const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
await app.register(proxy, { upstream: argValue('upstream', 'UPSTREAM', 'http://127.0.0.1:7001') });
await app.listen({ port, host: '127.0.0.1' });
watchParent(() => app.close().then(() => process.exit(0)));
