#!/usr/bin/env node
// The upstream of the workers proof: a plain HTTP server on 127.0.0.1 (port 0) that
// answers every request at once with a small body, and prints its port on stdout.
import http from 'node:http';

const body = Buffer.from('{"ok":true}\n');
const server = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
