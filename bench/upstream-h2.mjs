// The HTTP/2 benchmark backend: node:http2 without TLS (h2c, prior knowledge), answering
// every request with a preallocated body whose size is named by the path (`/1k`, `/64k`),
// like bench/upstream.mjs. POST bodies are read to the end first. It is the target of the
// HTTP/2 cases (h2 client → proxy → h2c upstream).
//
// Usage: PORT=7002 node bench/upstream-h2.mjs
import http2 from 'node:http2';
import { argValue, watchParent } from './lib/child-args.mjs';

const port = Number(argValue('port', 'PORT', '0'));
const host = argValue('host', 'HOST', '127.0.0.1');

const bodies = new Map();
function bodyFor(path) {
  let buf = bodies.get(path);
  if (buf !== undefined) return buf;
  const m = /^\/(\d+)(k|m)?(?:[/?].*)?$/i.exec(path ?? '');
  if (m === null || bodies.size > 64) return null;
  const size = Number(m[1]) * (m[2] === undefined ? 1 : m[2].toLowerCase() === 'k' ? 1024 : 1024 * 1024);
  if (size > 64 * 1024 * 1024) return null;
  buf = Buffer.alloc(size, 'x');
  bodies.set(path, buf);
  return buf;
}

const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
server.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  const body = bodyFor(headers[':path']);
  const reply = () => {
    if (body === null) stream.respond({ ':status': 404 }, { endStream: true });
    else {
      stream.respond({ ':status': 200, 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
      stream.end(body);
    }
  };
  if (headers[':method'] === 'GET' || headers[':method'] === 'HEAD') reply();
  else {
    stream.resume();
    stream.on('end', reply);
  }
});
server.listen(port, host, () => {
  process.stdout.write(`h2c upstream on ${host}:${server.address().port}\n`);
});
watchParent(() => server.close(() => process.exit(0)));
