import assert from 'node:assert/strict';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { expectProblems, expectValid, MINIMAL_CONFIG } from '../config/testing.js';
import { normalizeUpgrades } from '../router/config/upgrades.js';
import { allowedOffer, ignoredUpgrade, offeredProtocols, plainRequestHead } from './upgrade-policy.js';

/** An IncomingMessage as node's parser fills it, without a connection. */
function request(method: string, url: string, version: '1.0' | '1.1', rawHeaders: string[]): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.method = method;
  req.url = url;
  req.httpVersion = version;
  req.httpVersionMajor = 1;
  req.httpVersionMinor = version === '1.0' ? 0 : 1;
  req.rawHeaders = rawHeaders;
  for (let i = 0; i < rawHeaders.length; i += 2) req.headers[rawHeaders[i]!.toLowerCase()] ??= rawHeaders[i + 1]!;
  return req;
}

describe('upgrade policy', () => {
  test('offeredProtocols: names lower-cased, versions and blanks dropped', () => {
    assert.deepEqual(offeredProtocols('WebSocket'), ['websocket']);
    assert.deepEqual(offeredProtocols(' h2c , TLS/1.0,, IRC/6.9 '), ['h2c', 'tls', 'irc']);
    assert.deepEqual(offeredProtocols(undefined), []);
  });

  test('allowedOffer keeps the allowed protocols in the client spelling and order', () => {
    assert.equal(allowedOffer('WebSocket', ['websocket']), 'WebSocket');
    assert.equal(allowedOffer('foo/2, websocket', ['websocket', 'foo']), 'foo/2, websocket');
    assert.equal(allowedOffer('foo, websocket', ['websocket']), 'websocket');
    assert.equal(allowedOffer('websocket', []), '');
    assert.equal(allowedOffer(undefined, ['websocket']), '');
  });

  test('ignoredUpgrade: h2c anywhere in the offer, HTTP2-Settings, HTTP/1.0; null for a WebSocket handshake', () => {
    assert.equal(ignoredUpgrade(request('GET', '/', '1.1', ['Upgrade', 'h2c'])), 'h2c');
    assert.equal(ignoredUpgrade(request('GET', '/', '1.1', ['Upgrade', 'websocket, H2C'])), 'h2c');
    assert.equal(ignoredUpgrade(request('GET', '/', '1.1', ['Upgrade', 'websocket', 'HTTP2-Settings', 'AAMA'])), 'HTTP2-Settings');
    assert.equal(ignoredUpgrade(request('GET', '/', '1.0', ['Upgrade', 'websocket'])), 'HTTP/1.0');
    assert.equal(ignoredUpgrade(request('GET', '/', '1.1', ['Upgrade', 'websocket'])), null);
  });

  test('plainRequestHead writes the head back without Upgrade and HTTP2-Settings, keeping every other line as sent', () => {
    const req = request('POST', '/a?b=1', '1.1', ['Host', 'x.test', 'Connection', 'Upgrade, HTTP2-Settings', 'UPGRADE', 'h2c', 'http2-settings', 'AAMA', 'Content-Length', '5']);
    assert.equal(plainRequestHead(req).toString('latin1'), 'POST /a?b=1 HTTP/1.1\r\nHost: x.test\r\nConnection: Upgrade, HTTP2-Settings\r\nContent-Length: 5\r\n\r\n');
  });

  test('normalizeUpgrades lower-cases, removes duplicates and refuses h2c', () => {
    assert.deepEqual(normalizeUpgrades(['WebSocket', 'websocket', 'Foo']).config, ['websocket', 'foo']);
    assert.deepEqual(normalizeUpgrades([]).config, []);
    const refused = normalizeUpgrades(['websocket', 'H2C']);
    assert.equal(refused.config, undefined);
    assert.deepEqual(refused.problems.map((p) => p.path), [[1]]);
    assert.match(refused.problems[0]!.message, /h2c cannot be tunnelled/);
  });

  test('a route\'s `upgrades` in a config file: absent, empty, and the problems with their positions', () => {
    assert.equal(expectValid(MINIMAL_CONFIG).config.routes[0]!.upgrades, undefined, 'absent: the default applies');
    assert.deepEqual(expectValid(`${MINIMAL_CONFIG}    upgrades: []\n`).config.routes[0]!.upgrades, []);
    const h2c = expectProblems(`${MINIMAL_CONFIG}    upgrades: [websocket, h2c]\n`);
    assert.equal(h2c.length, 1);
    assert.equal(h2c[0]!.path, 'routes.0.upgrades.1');
    assert.deepEqual([h2c[0]!.line, h2c[0]!.column], [10, 27]);
    const notToken = expectProblems(`${MINIMAL_CONFIG}    upgrades: ["web socket"]\n`);
    assert.equal(notToken[0]!.path, 'routes.0.upgrades.0');
  });
});
