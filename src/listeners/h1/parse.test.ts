import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { FALLBACK, INCOMPLETE, readHead, type LeanHead } from './parse.js';
import { headerObject } from './request.js';

const read = (text: string, bodies = true) => readHead(Buffer.from(text, 'latin1'), 0, 8192, 100, bodies);

test('reads the common heads: method, target, fields as sent, length, Connection', () => {
  const head = read('GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Pad:  v  \r\nContent-Length: 0\r\nConnection: Close\r\n\r\nrest') as LeanHead;
  assert.equal(head.method, 'GET');
  assert.equal(head.url, '/a?b=c');
  assert.deepEqual(head.rawHeaders, ['Host', 'x', 'X-Pad', 'v', 'Content-Length', '0', 'Connection', 'Close']);
  assert.equal(head.contentLength, 0);
  assert.equal(head.close, true);
  assert.equal(head.end, head.end > 0 ? 'GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Pad:  v  \r\nContent-Length: 0\r\nConnection: Close\r\n\r\n'.length : -1);
  assert.equal((read('POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n') as LeanHead).contentLength, 12);
  assert.equal(read('POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n', false), FALLBACK, 'bodies off');
});

test('waits for the rest of a plausible head, and gives up at once on one that cannot be ours', () => {
  for (const partial of ['', 'G', 'GET', 'GET /', 'GET / HTTP/1.1\r\nHost: a\r\n', 'POST / HTTP/1.1\r\nContent-Length: 3\r']) assert.equal(read(partial), INCOMPLETE, JSON.stringify(partial));
  for (const bad of ['PRI * HTTP/2.0\r\n', 'get / HTTP/1.1\r\n', 'GET / HTTP/1.1\nHost: a\n', 'GET / HTTP/1.1\r\nX: a\rb', 'GET / HTTP/1.1\r\nX: \x00']) assert.equal(read(bad), FALLBACK, JSON.stringify(bad));
  assert.equal(read(`GET /${'a'.repeat(9000)}`), FALLBACK, 'longer than the limit');
});

test('leaves everything unusual to node:http', () => {
  const unusual = [
    'CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n',
    'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET / HTTP/1.0\r\nHost: a\r\n\r\n',
    'GET /#f HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, x\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: close\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456\r\n\r\n',
    'GET / HTTP/1.1\r\nHost : a\r\n\r\n',
    'GET / HTTP/1.1\r\nX: a\r\n  folded\r\n\r\n',
    'GET / HTTP/1.1\r\nX: caf\xe9\r\n\r\n',
    'GET / HTTP/1.1\r\n: a\r\n\r\n',
    'GET /  HTTP/1.1\r\n\r\n',
    'GET / HTTP/1.1 \r\n\r\n',
    '\r\nGET / HTTP/1.1\r\n\r\n',
  ];
  for (const text of unusual) assert.equal(read(text), FALLBACK, JSON.stringify(text));
  const many = `GET / HTTP/1.1\r\n${'X: 1\r\n'.repeat(101)}\r\n`;
  assert.equal(read(many), FALLBACK, 'more fields than the limit');
});

test('builds the header object as node does', () => {
  const raw = ['Host', 'a', 'host', 'b', 'Cookie', 'x=1', 'cookie', 'y=2', 'Set-Cookie', 's', 'Accept', 'a', 'ACCEPT', 'b', 'Content-Type', 't1', 'content-type', 't2'];
  assert.deepEqual(headerObject(raw), { host: 'a', cookie: 'x=1; y=2', 'set-cookie': ['s'], accept: 'a, b', 'content-type': 't1' });
});

/**
 * The property that keeps the lean server safe: any head it accepts, node's llhttp accepts
 * too and reads the same way (method, target, fields). Mutated heads are read by both.
 */
let node: http.Server;
let port = 0;
let next: ((seen: { method?: string; url?: string; raw?: string[]; error?: string; headers?: http.IncomingHttpHeaders }) => void) | null = null;
before(async () => {
  node = http.createServer({ insecureHTTPParser: false, requireHostHeader: false, maxHeaderSize: 16384 }, (req, res) => {
    next?.({ method: req.method, url: req.url, raw: req.rawHeaders, headers: req.headers });
    res.end();
  });
  node.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    next?.({ error: err.code ?? 'error' });
    socket.destroy();
  });
  await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
  port = (node.address() as net.AddressInfo).port;
});
after(() => node.close());

function nodeReads(bytes: Buffer): Promise<{ method?: string; url?: string; raw?: string[]; error?: string; headers?: http.IncomingHttpHeaders }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(bytes));
    const timer = setTimeout(() => resolve({ error: 'no answer' }), 2000);
    next = (seen) => {
      clearTimeout(timer);
      next = null;
      socket.destroy();
      resolve(seen);
    };
    socket.on('error', () => {});
  });
}

test('every mutated head the lean reader accepts, node reads the same', async () => {
  const seed = Number(process.env['BRISK_FUZZ_SEED'] ?? Date.now() % 2 ** 31);
  let state = seed;
  const random = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const bases = [
    'GET /fuzz/a?b=c HTTP/1.1\r\nHost: fuzz.test\r\nAccept: */*\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n',
    'POST /fuzz/b HTTP/1.1\r\nHost: fuzz.test\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n',
    'DELETE /x HTTP/1.1\r\nhost: a\r\nX-A: 1\r\nx-a: 2\r\nConnection: close\r\n\r\n',
  ];
  const pieces = ['\r', '\n', '\r\n', ' ', '\t', ':', '\0', '\x7f', '\x80', '\xff', 'a', 'Z', '/', '#', '?', '"', ',', '0', '9', ';', 'chunked', 'Content-Length: 1\r\n', 'Transfer-Encoding: chunked\r\n', 'HTTP/1.0', 'Connection: upgrade\r\n', '\r\n '];
  let accepted = 0;
  const failures: string[] = [];
  for (let i = 0; i < 400; i++) {
    let text = bases[i % bases.length]!;
    for (let m = 1 + Math.floor(random() * 3); m > 0; m--) {
      const at = Math.floor(random() * text.length);
      const piece = pieces[Math.floor(random() * pieces.length)]!;
      const kind = random();
      text = kind < 0.4 ? text.slice(0, at) + piece + text.slice(at) : kind < 0.8 ? text.slice(0, at) + piece + text.slice(at + 1) : text.slice(0, at) + text.slice(at + 1);
    }
    const bytes = Buffer.from(text, 'latin1');
    const lean = readHead(bytes, 0, 8192, 100, true);
    if (lean === FALLBACK || lean === INCOMPLETE) continue;
    accepted++;
    const seen = await nodeReads(Buffer.concat([bytes.subarray(0, lean.end), Buffer.alloc(lean.contentLength, 'b')]));
    const same = seen.error === undefined && seen.method === lean.method && seen.url === lean.url && JSON.stringify(seen.raw) === JSON.stringify(lean.rawHeaders) && JSON.stringify(seen.headers) === JSON.stringify(headerObject(lean.rawHeaders));
    if (!same) failures.push(`${JSON.stringify(text)}: lean ${JSON.stringify([lean.method, lean.url, lean.rawHeaders])}, node ${JSON.stringify(seen)}`);
  }
  assert.deepEqual(failures, [], `fuzz seed ${seed} (rerun with BRISK_FUZZ_SEED=${seed})`);
  assert.ok(accepted > 20, `only ${accepted} mutated heads were accepted: the property was hardly tested`);
});
