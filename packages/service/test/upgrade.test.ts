/**
 * Upgrade routes of the service bootstrap: a matched upgrade reaches its handler with the
 * route's params, an unmatched one gets a 404 with the error body, one while draining a
 * 503, and shutdown runs the route's drain and then cuts what is left (the listener's
 * close would otherwise wait for upgraded sockets forever).
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { createService } from '../src/service/service.js';

function upgradeRequest(port: number, path: string): Promise<{ socket: Socket; head: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n`);
      let text = '';
      const head = new Promise<string>((done) => {
        socket.on('data', (c: Buffer) => {
          text += c.toString('latin1');
          if (text.includes('\r\n\r\n')) done(text);
        });
        socket.on('close', () => done(text));
      });
      resolve({ socket, head });
    });
    socket.on('error', reject);
  });
}

test('upgrade routes: handler with params, 404 unmatched, drain then cut at shutdown', async () => {
  const seen: string[] = [];
  let drained = 0;
  const service = createService({ name: 'upgrades', logger: pino({ level: 'silent' }), handleSignals: false, drainTimeoutMs: 500 }).upgrade(
    '/rooms/:room',
    (_req, socket, _head, params) => {
      seen.push(params['room']!);
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
      socket.on('data', (c: Buffer) => socket.write(c));
    },
    { drain: () => void drained++ },
  );
  await service.start();
  const ok = await upgradeRequest(service.port, '/rooms/blue');
  assert.match(await ok.head, /^HTTP\/1\.1 101/);
  assert.deepEqual(seen, ['blue']);

  const missing = await upgradeRequest(service.port, '/nowhere');
  const answer = await missing.head;
  assert.match(answer, /^HTTP\/1\.1 404/);
  assert.match(answer, /BRISK_SVC_NOT_FOUND/);

  // The upgraded socket stays open; stop() must still finish, after the route's drain.
  const started = Date.now();
  const closed = new Promise((r) => ok.socket.once('close', r));
  await service.stop();
  await closed;
  assert.equal(drained, 1);
  assert.ok(Date.now() - started < 5000, `stop took ${Date.now() - started} ms`);
});
