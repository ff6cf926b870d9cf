// Peer: http-proxy (node-http-proxy) on node:http, with a keep-alive agent to the
// upstream (without one it opens a connection per request, which is not a fair peer).
//
// Usage: PORT=8002 UPSTREAM=http://127.0.0.1:7001 node bench/peers/http-proxy.mjs
import http from 'node:http';
import httpProxy from 'http-proxy';
import { argValue, watchParent } from '../lib/child-args.mjs';

const port = Number(argValue('port', 'PORT', '0'));
const agent = new http.Agent({ keepAlive: true, maxSockets: 128, maxFreeSockets: 128, keepAliveMsecs: 60_000 });
const proxy = httpProxy.createProxyServer({ target: argValue('upstream', 'UPSTREAM', 'http://127.0.0.1:7001'), agent });
proxy.on('error', (_err, _req, res) => {
  if (res.headersSent === false) res.writeHead(502, { 'content-length': '0' });
  res.end();
});

const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1');
watchParent(() => server.close(() => process.exit(0)));
