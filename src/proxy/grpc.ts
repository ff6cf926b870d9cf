/**
 * What the proxy does differently for a gRPC client (`content-type: application/grpc…`
 * over HTTP/2): Brisk's own errors become gRPC statuses in a trailers-only answer, a
 * target's trailers-only answer stays trailers-only, and a stream that breaks after its
 * head ends with a status in trailers when it can (between two messages) instead of a
 * bare reset. See docs/grpc.md.
 */
import type { Http2ServerResponse, OutgoingHttpHeaders } from 'node:http2';
import type { ErrorCode } from '../core/errors.js';
import type { ClientResponse } from '../core/http.js';
import { encodeGrpcMessage, grpcStatusOf } from '../core/grpc.js';

/**
 * Follows the gRPC message framing of a response body (1 flag byte, 4 length bytes, the
 * message) across chunks, so the proxy knows whether what it forwarded so far ends on a
 * message boundary: only there can trailers with a status still be sent honestly.
 */
export class GrpcFraming {
  /** Bytes of the current message's 5-byte prefix read so far (0: at a boundary). */
  private prefixRead = 0;
  private prefix = Buffer.alloc(5);
  /** Bytes of the current message still to come after its prefix. */
  private remaining = 0;

  /** True when the bytes seen so far end between two messages. */
  get atBoundary(): boolean {
    return this.prefixRead === 0 && this.remaining === 0;
  }

  /** Accounts for one chunk of the body. */
  push(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, n - i);
        this.remaining -= take;
        i += take;
        continue;
      }
      this.prefix[this.prefixRead++] = chunk[i++]!;
      if (this.prefixRead === 5) {
        this.prefixRead = 0;
        this.remaining = this.prefix.readUInt32BE(1);
      }
    }
  }
}

/** The headers of a gRPC trailers-only answer with this status. */
export function grpcStatusHeaders(status: number, message: string, extra: readonly string[], contentType = 'application/grpc'): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { ':status': 200, 'content-type': contentType, 'grpc-status': String(status) };
  if (message !== '') headers['grpc-message'] = encodeGrpcMessage(message);
  for (let i = 0; i < extra.length; i += 2) {
    const name = extra[i]!.toLowerCase();
    if (name === 'content-type' || name === 'content-length' || name === 'grpc-status' || name === 'grpc-message') continue;
    const prev = headers[name];
    headers[name] = prev === undefined ? extra[i + 1]! : Array.isArray(prev) ? [...prev, extra[i + 1]!] : [String(prev), extra[i + 1]!];
  }
  return headers;
}

/**
 * Answers a Brisk error to a gRPC client: HTTP 200 with `grpc-status`, `grpc-message`
 * and `extra` headers in one HEADERS frame that ends the stream (a trailers-only
 * response; node's compatibility API would send the end in a separate DATA frame, which
 * gRPC clients read as headers without a status). False when the stream is gone.
 */
export function answerGrpcError(res: Http2ServerResponse, code: ErrorCode, message: string, extra: readonly string[]): boolean {
  return respondTrailersOnly(res, grpcStatusHeaders(grpcStatusOf(code), message, extra));
}

/**
 * Answers a Brisk error to a gRPC-Web client (HTTP/1.1 or HTTP/2): HTTP 200 with the status
 * in headers and no body, which gRPC-Web clients read as a trailers-only answer.
 */
export function answerGrpcWebError(res: ClientResponse, code: ErrorCode, message: string, extra: readonly string[], contentType: string): void {
  const headers = grpcStatusHeaders(grpcStatusOf(code), message, extra, contentType);
  delete headers[':status'];
  headers['content-length'] = '0';
  try {
    res.writeHead(200, headers as Record<string, string | string[]>);
    res.end();
  } catch {
    res.destroy();
  }
}

/** Sends `headers` as a trailers-only answer (HEADERS with END_STREAM). */
export function respondTrailersOnly(res: Http2ServerResponse, headers: OutgoingHttpHeaders): boolean {
  const stream = res.stream;
  if (stream.destroyed || stream.closed || stream.headersSent) return false;
  try {
    stream.respond(headers, { endStream: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * Ends a gRPC response whose head was sent: with trailers carrying the status when the
 * body stopped between two messages, else with a reset (a half message cannot be ended
 * honestly). Returns true when trailers went out.
 */
export function endGrpcWithStatus(res: Http2ServerResponse, framing: GrpcFraming | null, code: ErrorCode, message: string): boolean {
  if (framing === null || !framing.atBoundary || res.writableEnded || res.stream.destroyed) return false;
  try {
    res.addTrailers({ 'grpc-status': String(grpcStatusOf(code)), 'grpc-message': encodeGrpcMessage(message) });
    res.end();
    return true;
  } catch {
    return false;
  }
}
