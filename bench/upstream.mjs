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
/**
 * The body for a path. With `x-bench-content: json` (the compressed cases send it) it is
 * JSON-like text of the same size that compresses as an API's answers do (about 5:1),
 * not a run of one byte that any encoder shrinks to nothing.
 */
function bodyFor(url, json) {
  const id = json ? `json ${url}` : url;
  let entry = bodies.get(id);
  if (entry !== undefined) return entry;
  const m = /^\/(\d+)(k|m)?(?:[/?].*)?$/i.exec(url);
  if (m === null || bodies.size > 64) return null;
  const unit = m[2] === undefined ? 1 : m[2].toLowerCase() === 'k' ? 1024 : 1024 * 1024;
  const size = Number(m[1]) * unit;
  if (size > 64 * 1024 * 1024) return null;
  const buf = json ? jsonLike(size) : Buffer.alloc(size, 'x');
  entry = { buf, headers: ['content-type', json ? 'application/json' : 'application/octet-stream', 'content-length', String(size)] };
  bodies.set(id, entry);
  return entry;
}

function jsonLike(size) {
  let text = '[';
  for (let i = 0; text.length < size; i++) {
    const price = ((i * 7919) % 100000) / 100;
    text += `{"id":${100000 + i},"sku":"SKU-${((i * 2654435761) >>> 0).toString(36)}","name":"Product ${i}","price":${price},"stock":${(i * 31) % 500},"tags":["tag${i % 17}","tag${i % 5}"]},`;
  }
  return Buffer.from(text.slice(0, size));
}

const server = http.createServer((req, res) => {
  const entry = bodyFor(req.url, req.headers['x-bench-content'] === 'json');
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
