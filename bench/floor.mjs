// The floor: the least a Node.js proxy can do. node:http in front, one undici Pool
// behind, and `Pool.stream` writing the answer into the ServerResponse itself (no
// intermediate stream, no pipeline); hop-by-hop headers dropped; nothing else (no routing,
// no logging, no X-Forwarded-*). Any real Node gateway costs at least this.
//
// Usage: PORT=8001 UPSTREAM=http://127.0.0.1:7001 node bench/floor.mjs
import http from 'node:http';
import { Pool } from 'undici';
import { argValue, watchParent } from './lib/child-args.mjs';

const port = Number(argValue('port', 'PORT', '0'));
const pool = new Pool(argValue('upstream', 'UPSTREAM', 'http://127.0.0.1:7001'), { connections: 128, keepAliveTimeout: 60_000 });
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);
const strip = (h) => {
  const out = {};
  for (const k in h) if (!HOP.has(k)) out[k] = h[k];
  return out;
};
/** undici's factory: the head goes out, and the ServerResponse is the body's writable. */
const factory = ({ statusCode, headers, opaque: res }) => {
  res.writeHead(statusCode, strip(headers));
  return res;
};

const server = http.createServer((req, res) => {
  const body = req.method === 'GET' || req.method === 'HEAD' ? null : req;
  pool.stream({ method: req.method, path: req.url, headers: strip(req.headers), body, opaque: res }, factory, (err) => {
    if (err === null || err === undefined) return;
    if (res.headersSent) res.destroy();
    else {
      res.writeHead(502, { 'content-length': '0' });
      res.end();
    }
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1');
watchParent(() => server.close(() => pool.close().then(() => process.exit(0))));
