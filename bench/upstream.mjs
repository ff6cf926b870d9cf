// The benchmark backend: a minimal node:http server that answers every request with a
// preallocated body whose size is named by the path (`/1k`, `/64k`, `/1m`, `/512`).
// It is deliberately the cheapest thing Node can serve so that the `direct` case is a
// ceiling and the proxies are what differs between cases.
//
// Usage: PORT=7001 node bench/upstream.mjs   (or: node bench/upstream.mjs --port 7001)
import http from 'node:http';
import { argValue, watchParent } from './lib/child-args.mjs';

const port = Number(argValue('port', 'PORT', '0'));
const host = argValue('host', 'HOST', '127.0.0.1');

const bodies = new Map();
function bodyFor(url) {
  let entry = bodies.get(url);
  if (entry !== undefined) return entry;
  const m = /^\/(\d+)(k|m)?(?:[/?].*)?$/i.exec(url);
  if (m === null || bodies.size > 64) return null;
  const unit = m[2] === undefined ? 1 : m[2].toLowerCase() === 'k' ? 1024 : 1024 * 1024;
  const size = Number(m[1]) * unit;
  if (size > 64 * 1024 * 1024) return null;
  const buf = Buffer.alloc(size, 'x');
  entry = { buf, headers: ['content-type', 'application/octet-stream', 'content-length', String(size)] };
  bodies.set(url, entry);
  return entry;
}

const server = http.createServer((req, res) => {
  const entry = bodyFor(req.url);
  const reply = () => {
    if (entry === null) {
      res.writeHead(404, ['content-length', '0']);
      res.end();
      return;
    }
    res.writeHead(200, entry.headers);
    res.end(req.method === 'HEAD' ? undefined : entry.buf);
  };
  if (req.method === 'GET' || req.method === 'HEAD') reply();
  else req.resume().on('end', reply);
});
// Proxies keep pooled connections open; never be the side that closes them mid-run.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.requestTimeout = 0;
server.maxRequestsPerSocket = 0;
server.listen(port, host, () => {
  process.stdout.write(`upstream listening on ${host}:${server.address().port}\n`);
});
watchParent(() => server.close(() => process.exit(0)));
