import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ResponseParser, type ResponseEvents } from './parse.js';

/** Everything the parser reported, as text. */
function recorder(): ResponseEvents & { log: string[] } {
  const log: string[] = [];
  const pending: Buffer[] = [];
  const flush = (): void => {
    if (pending.length > 0) log.push(`body ${Buffer.concat(pending.splice(0)).toString('latin1')}`);
  };
  return {
    log,
    onResponseHead(status, raw, text, interim) {
      flush();
      log.push(`${interim ? 'interim' : 'head'} ${status} ${text} ${raw.map((b) => b.toString('latin1')).join('|')}`);
    },
    onResponseBody(chunk) {
      pending.push(Buffer.from(chunk));
    },
    onResponseComplete(trailers) {
      flush();
      log.push(`complete ${trailers === null ? '-' : trailers.map((b) => b.toString('latin1')).join('|')}`);
    },
  };
}

function parse(pieces: Buffer[], head = false): string[] {
  const events = recorder();
  const parser = new ResponseParser(events, 65536);
  parser.expect(head);
  for (const p of pieces) parser.execute(p);
  parser.finish();
  return events.log;
}

/** Each answer is refused with its code. */
function assertRefused(cases: readonly (readonly [string, string])[]): void {
  for (const [text, code] of cases) {
    const parser = new ResponseParser(recorder(), 65536);
    parser.expect(false);
    assert.throws(() => parser.execute(Buffer.from(text, 'latin1')), { code }, JSON.stringify(text));
  }
}

const RESPONSE = Buffer.from(
  'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n' +
    'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nX-Empty:\r\n\r\n' +
    '5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Checksum: 42\r\nX-More:  a b  \r\n\r\n',
  'latin1',
);

describe('ResponseParser', () => {
  test('reads interim answers, a chunked body with extensions and trailers', () => {
    assert.deepEqual(parse([RESPONSE]), [
      'interim 103 Early Hints Link|</a.css>',
      'head 200 OK Content-Type|text/plain|Transfer-Encoding|chunked|X-Empty|',
      'body helloabcdefghijklmnopqrstuvwxyz',
      'complete X-Checksum|42|X-More|a b',
    ]);
  });

  test('gives the same events wherever the bytes are split (every split point, and byte by byte)', () => {
    const whole = parse([RESPONSE]);
    for (let i = 1; i < RESPONSE.length; i++) {
      assert.deepEqual(parse([RESPONSE.subarray(0, i), RESPONSE.subarray(i)]), whole, `split at ${i}`);
    }
    const bytes = Array.from({ length: RESPONSE.length }, (_, i) => RESPONSE.subarray(i, i + 1));
    assert.deepEqual(parse(bytes), whole);
  });

  test('a fixed-length body, a HEAD answer without body, and keep-alive from the version and Connection', () => {
    const events = recorder();
    const parser = new ResponseParser(events, 65536);
    parser.expect(false);
    parser.execute(Buffer.from('HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc'));
    assert.equal(parser.idle, true);
    assert.equal(parser.keepAlive, false, 'HTTP/1.0 closes unless it says keep-alive');
    parser.expect(true);
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\nKeep-Alive: timeout=7\r\n\r\n'));
    assert.equal(parser.idle, true, 'a HEAD answer ends with its head');
    assert.equal(parser.keepAlive, false);
    assert.equal(parser.keepAliveHintMs, 7000);
    assert.deepEqual(events.log, ['head 200 OK Content-Length|3', 'body abc', 'complete -', 'head 200 OK Content-Length|10|Connection|close|Keep-Alive|timeout=7', 'complete -']);
  });

  test('a body without length runs until the close; one cut short is reported', () => {
    assert.deepEqual(parse([Buffer.from('HTTP/1.1 200 OK\r\n\r\nto the end')]), ['head 200 OK ', 'body to the end', 'complete -']);
    const parser = new ResponseParser(recorder(), 65536);
    parser.expect(false);
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc'));
    assert.equal(parser.finish(), false);
  });

  test('refuses what could be read two ways, with llhttp’s codes', () => {
    const cases: [string, string][] = [
      ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked, chunked\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
      ['HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
      ['HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
      ['HTTP/1.1 200 OK\r\n X-A: a\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
      ['HTTP/1.1 20 OK\r\n\r\n', 'HPE_INVALID_STATUS'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n', 'HPE_INVALID_CHUNK_SIZE'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n', 'HPE_INVALID_CHUNK_SIZE'],
      ['ICY 200 OK\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ];
    assertRefused(cases);
  });

  test('refuses what undici refuses and Brisk would otherwise pass on to its client', () => {
    // Found by running the same odd answers through a gateway on undici and on lean: each
    // of these reached the client (two Content-Length lines; a 204 announcing a body the
    // client might read from the next answer) or was read more loosely than undici does.
    const cases: [string, string][] = [
      ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
      ['HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\n', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 \r\nhi\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 x\r\nhi\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ];
    assertRefused(cases);
    // Still read: white space before a chunk extension (RFC 9112's BWS), a 204 saying 0.
    assert.deepEqual(parse([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 ;a=b\r\nhi\r\n0\r\n\r\n')]), ['head 200 OK Transfer-Encoding|chunked', 'body hi', 'complete -']);
    assert.deepEqual(parse([Buffer.from('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n')]), ['head 204 No Content Content-Length|0', 'complete -']);
  });

  test('a head that cannot become a valid one is refused at once, not at the response timeout', () => {
    // Bare LF line ends or no status line at all: waiting for CRLFCRLF would wait until
    // the timeout (a 504 after 30 s instead of a 502 now).
    const cases: [string, string][] = [
      ['HTTP/1.1 200 OK\nContent-Length: 2\n\nhi', 'HPE_CR_EXPECTED'],
      ['HTTP/1.1 200 OK\r\nX-A: 1\nX-B', 'HPE_CR_EXPECTED'],
      ['hi there', 'HPE_INVALID_CONSTANT'],
      ['<html>', 'HPE_INVALID_CONSTANT'],
    ];
    assertRefused(cases);
    // The same bytes a few at a time: refused as soon as they show it.
    const parser = new ResponseParser(recorder(), 65536);
    parser.expect(false);
    parser.execute(Buffer.from('HTT'));
    parser.execute(Buffer.from('P/1.1 200 OK\r'));
    assert.throws(() => parser.execute(Buffer.from('\nA: b\n')), { code: 'HPE_CR_EXPECTED' });
  });

  test('a transfer coding other than chunked last: the body runs until the close', () => {
    const parser = new ResponseParser(recorder(), 65536);
    parser.expect(false);
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxyz'));
    assert.equal(parser.untilClose, true);
    assert.equal(parser.keepAlive, false);
  });
});
