import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Sniffed, sniffPreface } from './h2c.js';

test('the HTTP/2 preface is told from HTTP/1.1 by the first bytes, waiting while they could still be either', () => {
  const preface = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
  assert.equal(sniffPreface(Buffer.from(preface)), Sniffed.Http2);
  assert.equal(sniffPreface(Buffer.from(`${preface}\x00\x00\x00\x04`)), Sniffed.Http2);
  assert.equal(sniffPreface(Buffer.from('PRI * HT')), Sniffed.Undecided);
  assert.equal(sniffPreface(Buffer.from('P')), Sniffed.Undecided);
  for (const h1 of ['GET / HTTP/1.1\r\n', 'POST /x HTTP/1.1\r\n', 'PUT / HTTP/1.1', 'PRIX', 'PRI * HTTP/1.1\r\n']) assert.equal(sniffPreface(Buffer.from(h1)), Sniffed.Http1, h1);
});
