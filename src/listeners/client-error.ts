/**
 * A request the HTTP/1.1 servers cannot take (a parser error, a timeout) is answered with a
 * JSON 400/431/408 on a connection that then closes: node:http's `clientError`, and the lean
 * server's own timeouts (`h1/`).
 */
import type { Duplex } from 'node:stream';
import { errorBody, type ErrorCode } from '../core/errors.js';
import type { Logger } from '../observability/logger.js';

/** Parser errors → a JSON answer and a closed connection (the framing can't be trusted). */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, listener: string, logger: Logger): void {
  const code = err.code ?? '';
  // A response already under way on this connection (a body parse error or a request
  // timeout while the target is answering): writing an error now would splice a second
  // status line into that response, so the only honest signal is a cut connection.
  const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable || inFlight?.headersSent === true) {
    socket.destroy();
    return;
  }
  let briskCode: ErrorCode = 'BRISK_BAD_REQUEST';
  let message = 'malformed request';
  if (code === 'HPE_HEADER_OVERFLOW') {
    briskCode = 'BRISK_HEADERS_TOO_LARGE';
    message = 'the request head is larger than the limit';
  } else if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADERS_TIMEOUT') {
    briskCode = 'BRISK_REQUEST_TIMEOUT';
    message = 'the request was not received in time';
  } else if (code === 'HPE_PAUSED_H2_UPGRADE') {
    message = `HTTP/2 without TLS (prior knowledge) is off on listener "${listener}"; set h2c: true on it to take HTTP/2 clients such as gRPC`;
  } else if (code.startsWith('HPE_')) {
    message = `malformed request (${(err as { reason?: string }).reason ?? code})`;
  }
  logger.warn({ listener, code: briskCode, parserError: code, reason: (err as { reason?: string }).reason }, 'rejected malformed request');
  const status = briskCode === 'BRISK_HEADERS_TOO_LARGE' ? '431 Request Header Fields Too Large' : briskCode === 'BRISK_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
  const body = errorBody(briskCode, message, undefined);
  socket.end(`HTTP/1.1 ${status}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  // end() flushes; destroy soon after in case the peer never reads.
  setTimeout(() => socket.destroy(), 1000).unref();
}
