import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type { BodyEncoding } from '../../core/response-transform.js';
import { Compressor } from './compressor.js';
import { negotiate, TypeMatcher } from './negotiate.js';
import { normalizeCompression, zstdAvailable, type CompressionConfig } from './schema.js';

const ALL = ['zstd', 'br', 'gzip'] as const;

describe('Accept-Encoding negotiation', () => {
  it('the highest q wins; ties go to the server\'s order', () => {
    assert.equal(negotiate('gzip, br', ALL), 'br');
    assert.equal(negotiate('gzip, br;q=0.9', ALL), 'gzip');
    assert.equal(negotiate('gzip;q=0.5, zstd;q=0.5, br;q=0.4', ALL), 'zstd');
    assert.equal(negotiate('GZIP', ALL), 'gzip');
    assert.equal(negotiate('x-gzip', ALL), 'gzip');
  });

  it('q=0 refuses a coding, * stands for the others, nothing acceptable gives null', () => {
    assert.equal(negotiate('br;q=0, *', ALL), 'zstd');
    assert.equal(negotiate('*;q=0.1, gzip;q=0', ['gzip', 'br']), 'br');
    assert.equal(negotiate('identity', ALL), null);
    assert.equal(negotiate('', ALL), null);
    assert.equal(negotiate('gzip;q=0', ALL), null);
    assert.equal(negotiate('*;q=0', ALL), null);
    assert.equal(negotiate(undefined, ALL), null, 'no Accept-Encoding: not compressed');
  });

  it('a malformed q counts as 0; parameters other than q are ignored', () => {
    assert.equal(negotiate('gzip;q=2', ['gzip']), null);
    assert.equal(negotiate('gzip;q=0.1234', ['gzip']), null);
    assert.equal(negotiate('gzip; level=9 ;q=0.8', ['gzip']), 'gzip');
    assert.equal(negotiate('deflate, compress', ALL), null);
  });
});

describe('content type ranges', () => {
  const m = new TypeMatcher(['text/*', 'application/json', 'application/*+json']);
  it('exact types, any subtype, structured suffixes; parameters and case ignored', () => {
    assert.equal(m.matches('application/json; charset=utf-8'), true);
    assert.equal(m.matches('Application/JSON'), true);
    assert.equal(m.matches('text/html'), true);
    assert.equal(m.matches('application/problem+json'), true);
    assert.equal(m.matches('application/jsonx'), false);
    assert.equal(m.matches('image/png'), false);
    assert.equal(m.matches(undefined), false);
  });
});

describe('the compressor at head time', () => {
  const config: CompressionConfig = normalizeCompression({ encodings: ['gzip', 'br'], minSize: 100 }).config!;
  const compressor = new Compressor(config);
  const head = (status: number, headers: string[], over: { method?: string; ae?: string; body?: Buffer } = {}) => {
    const h = [...headers];
    const encoding = compressor.begin({ status, headers: h, method: over.method ?? 'GET', requestHeaders: over.ae === undefined ? [] : ['Accept-Encoding', over.ae], body: over.body ?? null, stored: false });
    return { encoding, headers: h };
  };
  const json = ['Content-Type', 'application/json', 'Content-Length', '5000', 'ETag', '"v1"'];

  it('compresses: names the encoding, drops Content-Length and Accept-Ranges, weakens the ETag, adds Vary', () => {
    const { encoding, headers } = head(200, [...json, 'Accept-Ranges', 'bytes', 'Vary', 'Origin'], { ae: 'gzip' });
    assert.equal(encoding?.kind, 'whole', 'a small body of known length is encoded at once');
    assert.deepEqual(headers, ['Content-Type', 'application/json', 'ETag', 'W/"v1"', 'Vary', 'Origin', 'vary', 'Accept-Encoding', 'content-encoding', 'gzip']);
    const body = Buffer.from('{"a":1}'.repeat(700));
    assert.deepEqual(gunzipSync((encoding as Extract<BodyEncoding, { kind: 'whole' }>).encode(body)), body);
    const large = head(200, ['Content-Type', 'application/json', 'Content-Length', '100000'], { ae: 'gzip' }).encoding;
    assert.equal(large?.kind, 'stream', 'a large body goes through a stream');
    assert.equal((large as Extract<BodyEncoding, { kind: 'stream' }>).flush, null, 'a body with a length is not flushed chunk by chunk');
  });

  it('leaves alone what must not be compressed', () => {
    assert.equal(head(200, [...json, 'Content-Encoding', 'br'], { ae: 'gzip' }).encoding, null);
    assert.equal(head(206, [...json, 'Content-Range', 'bytes 0-9/5000'], { ae: 'gzip' }).encoding, null);
    assert.equal(head(200, [...json, 'Content-Range', 'bytes 0-9/5000'], { ae: 'gzip' }).encoding, null);
    assert.equal(head(200, [...json, 'Cache-Control', 'public, no-transform'], { ae: 'gzip' }).encoding, null);
    assert.equal(head(200, json, { ae: 'gzip', method: 'HEAD' }).encoding, null);
    assert.equal(head(204, [], { ae: 'gzip' }).encoding, null);
    assert.equal(head(200, ['Content-Type', 'image/png', 'Content-Length', '5000'], { ae: 'gzip' }).encoding, null);
    assert.equal(head(200, ['Content-Type', 'text/event-stream'], { ae: 'gzip' }).encoding, null, 'event streams only when listed');
    const small = head(200, ['Content-Type', 'application/json', 'Content-Length', '99'], { ae: 'gzip' });
    assert.equal(small.encoding, null);
    assert.deepEqual(small.headers, ['Content-Type', 'application/json', 'Content-Length', '99'], 'too small: not even Vary');
  });

  it('a client that accepts none still gets Vary; a 304 gets the Vary and the weak ETag of the compressed 200', () => {
    const plain = head(200, json, {});
    assert.equal(plain.encoding, null);
    assert.deepEqual(plain.headers, [...json, 'vary', 'Accept-Encoding']);
    const notModified = head(304, ['ETag', '"v1"'], { ae: 'gzip' });
    assert.equal(notModified.encoding, null);
    assert.deepEqual(notModified.headers, ['ETag', 'W/"v1"', 'vary', 'Accept-Encoding']);
  });

  it('a streamed body (no length) is flushed after every chunk', () => {
    const { encoding } = head(200, ['Content-Type', 'text/plain'], { ae: 'gzip' });
    assert.equal(encoding?.kind, 'stream');
    assert.equal(typeof (encoding as Extract<BodyEncoding, { kind: 'stream' }>).flush, 'function');
  });

  it('a stored body is compressed once per encoding; later clients get the same bytes ready, with a length', async () => {
    const small = Buffer.from('x'.repeat(4000));
    const large = Buffer.from('y'.repeat(100_000));
    const begin = (body: Buffer, headers = ['content-type', 'text/plain']) =>
      compressor.begin({ status: 200, headers, method: 'GET', requestHeaders: ['accept-encoding', 'gzip'], body, stored: true });
    const first = begin(small);
    assert.equal(first?.kind, 'whole');
    const encoded = (first as Extract<BodyEncoding, { kind: 'whole' }>).encode(small);
    assert.deepEqual(gunzipSync(encoded), small);
    const streamed = begin(large);
    assert.equal(streamed?.kind, 'stream');
    const stream = (streamed as Extract<BodyEncoding, { kind: 'stream' }>).stream;
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const ended = once(stream, 'end');
    stream.end(large);
    await ended;
    assert.deepEqual(gunzipSync(Buffer.concat(chunks)), large);
    for (const [body, expected] of [
      [small, encoded],
      [large, Buffer.concat(chunks)],
    ] as const) {
      const headers = ['content-type', 'text/plain'];
      const again = begin(body, headers);
      assert.equal(again?.kind, 'ready');
      assert.deepEqual((again as Extract<BodyEncoding, { kind: 'ready' }>).body, expected);
      assert.ok(headers.includes('content-encoding'));
    }
  });
});

describe('compression config', () => {
  it('true takes the defaults; zstd only where the runtime has it', () => {
    const { config, warnings } = normalizeCompression(true);
    assert.deepEqual(config!.encodings, zstdAvailable() ? ['zstd', 'br', 'gzip'] : ['br', 'gzip']);
    assert.equal(config!.minSize, 1024);
    assert.deepEqual(warnings, []);
    const zstdOnly = normalizeCompression({ encodings: ['zstd'] });
    if (zstdAvailable()) assert.deepEqual(zstdOnly.config!.encodings, ['zstd']);
    else {
      assert.match(zstdOnly.warnings[0]!.message, /has no zstd/);
      assert.match(zstdOnly.problems[0]!.message, /no encoding this Node\.js can produce is left/);
    }
  });
});
