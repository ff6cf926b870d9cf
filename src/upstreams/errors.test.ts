import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errors } from 'undici';
import { BriskError, ERROR_CODES } from '../core/errors.js';
import { upstreamErrorCode, upstreamErrorMessage } from './errors.js';

/** undici's runtime signature (message, llhttp error name, data); its typings only show the first. */
const ParserError = errors.HTTPParserError as unknown as new (message: string, code?: string, data?: Buffer) => Error;

/** A socket-layer error as node raises it. */
const sys = (code: string) => Object.assign(new Error(code), { code });

describe('upstreamErrorCode', () => {
  // A real connect timeout cannot be produced reliably on loopback (a full accept backlog
  // is at the mercy of kernel settings), so the mapping of undici's own error is tested here.
  it('maps undici error classes to the documented codes', () => {
    const cases: [Error, string][] = [
      [new errors.ConnectTimeoutError(), 'BRISK_UPSTREAM_CONNECT_TIMEOUT'],
      [new errors.HeadersTimeoutError(), 'BRISK_UPSTREAM_RESPONSE_TIMEOUT'],
      [new errors.BodyTimeoutError(), 'BRISK_UPSTREAM_IDLE_TIMEOUT'],
      [new errors.SocketError('other side closed'), 'BRISK_UPSTREAM_RESET'],
      [new errors.ClientClosedError(), 'BRISK_UPSTREAM_RESET'],
      [new errors.ClientDestroyedError(), 'BRISK_UPSTREAM_RESET'],
      [new errors.ResponseContentLengthMismatchError(), 'BRISK_UPSTREAM_BAD_RESPONSE'],
      [new errors.HeadersOverflowError(), 'BRISK_UPSTREAM_BAD_RESPONSE'],
      [new ParserError('Response does not match the HTTP/1.1 protocol', undefined, Buffer.from('x')), 'BRISK_UPSTREAM_BAD_RESPONSE'],
      [new ParserError('bad', 'INVALID_CONSTANT'), 'BRISK_UPSTREAM_BAD_RESPONSE'],
      [new errors.RequestContentLengthMismatchError(), 'BRISK_BAD_REQUEST'],
      [new errors.InvalidArgumentError('invalid header'), 'BRISK_BAD_REQUEST'],
    ];
    for (const [err, code] of cases) assert.equal(upstreamErrorCode(err), code, `${err.name} (${String((err as { code?: unknown }).code)})`);
  });

  it('maps socket-layer errors', () => {
    for (const c of ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'EHOSTDOWN', 'ENETDOWN']) {
      assert.equal(upstreamErrorCode(sys(c)), 'BRISK_UPSTREAM_CONNECT_FAILED', c);
    }
    assert.equal(upstreamErrorCode(sys('ETIMEDOUT')), 'BRISK_UPSTREAM_CONNECT_TIMEOUT');
    for (const c of ['ECONNRESET', 'ECONNABORTED', 'EPIPE']) assert.equal(upstreamErrorCode(sys(c)), 'BRISK_UPSTREAM_RESET', c);
    assert.equal(upstreamErrorCode(sys('HPE_INVALID_STATUS')), 'BRISK_UPSTREAM_BAD_RESPONSE');
  });

  it('keeps the code of a BriskError and falls back to BRISK_INTERNAL for the unknown', () => {
    assert.equal(upstreamErrorCode(new BriskError('BRISK_UPSTREAM_TOTAL_TIMEOUT', 'total')), 'BRISK_UPSTREAM_TOTAL_TIMEOUT');
    assert.equal(upstreamErrorCode(new Error('what')), 'BRISK_INTERNAL');
    assert.equal(upstreamErrorCode(null), 'BRISK_INTERNAL');
    assert.equal(upstreamErrorCode('a string'), 'BRISK_INTERNAL');
    assert.equal(upstreamErrorCode({ code: 42 }), 'BRISK_INTERNAL');
  });

  it('every mapped code is registered, and each has a message naming the upstream and target', () => {
    const codes = new Set(['BRISK_UPSTREAM_CONNECT_FAILED', 'BRISK_UPSTREAM_CONNECT_TIMEOUT', 'BRISK_UPSTREAM_RESPONSE_TIMEOUT', 'BRISK_UPSTREAM_IDLE_TIMEOUT', 'BRISK_UPSTREAM_TOTAL_TIMEOUT', 'BRISK_UPSTREAM_RESET', 'BRISK_UPSTREAM_BAD_RESPONSE'] as const);
    for (const code of codes) {
      assert.ok(code in ERROR_CODES);
      const message = upstreamErrorMessage(code, 'products', 'http://10.0.0.1:8080');
      assert.match(message, /upstream "products"/, code);
      assert.match(message, /10\.0\.0\.1:8080/, code);
    }
  });
});
