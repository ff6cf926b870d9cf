import { BriskError, type ErrorCode } from '../core/errors.js';

/** The latency a gateway failure counts as, for latency-aware balancing. */
export const GATEWAY_FAILURE_PENALTY_MS = 1000;

/** RFC 9110 §9.2.2: methods whose repetition has the same effect as one request. */
export const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Errors where the connection failed before the request was sent: a retry cannot duplicate it. */
export const NOT_SENT: ReadonlySet<ErrorCode> = new Set(['BRISK_UPSTREAM_CONNECT_FAILED', 'BRISK_UPSTREAM_CONNECT_TIMEOUT', 'BRISK_UPSTREAM_TLS_FAILED']);
/** Errors where the target may have failed mid-way but sent nothing back: retried for idempotent requests. */
export const RETRYABLE_ERRORS: ReadonlySet<ErrorCode> = new Set([
  'BRISK_UPSTREAM_CONNECT_FAILED',
  'BRISK_UPSTREAM_CONNECT_TIMEOUT',
  'BRISK_UPSTREAM_TLS_FAILED',
  'BRISK_UPSTREAM_RESET',
  'BRISK_UPSTREAM_RESPONSE_TIMEOUT',
  'BRISK_UPSTREAM_BAD_RESPONSE',
]);

/**
 * Maps what undici or the socket layer threw into the stable code the client sees.
 * Network failures before any byte came back are the target's fault (502/504); an
 * argument error means the client sent something node accepted but HTTP forbids (400).
 */
export function upstreamErrorCode(err: unknown): ErrorCode {
  if (err instanceof BriskError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EAI_AGAIN':
    case 'EADDRNOTAVAIL':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
    // An HTTP/2 stream the target refused unprocessed (H2Pool).
    case 'UND_ERR_H2_REFUSED':
      return 'BRISK_UPSTREAM_CONNECT_FAILED';
    case 'UND_ERR_H2_ALPN':
      return 'BRISK_UPSTREAM_TLS_FAILED';
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return 'BRISK_UPSTREAM_CONNECT_TIMEOUT';
    case 'UND_ERR_HEADERS_TIMEOUT':
      return 'BRISK_UPSTREAM_RESPONSE_TIMEOUT';
    case 'UND_ERR_BODY_TIMEOUT':
      return 'BRISK_UPSTREAM_IDLE_TIMEOUT';
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
    case 'ECONNRESET':
    case 'ECONNABORTED':
    case 'EPIPE':
    // The pool was destroyed under the request (shutdown past the drain timeout).
    case 'UND_ERR_DESTROYED':
      return 'BRISK_UPSTREAM_RESET';
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_HEADERS_OVERFLOW':
    case 'UND_ERR_RES_EXCEEDED_MAX_SIZE':
    case 'ERR_INVALID_CHAR':
    case 'ERR_HTTP_INVALID_HEADER_VALUE':
    case 'ERR_INVALID_HTTP_TOKEN':
      return 'BRISK_UPSTREAM_BAD_RESPONSE';
    // A try cancelled by undici's abort: the call reports what cancelled it, never this.
    case 'UND_ERR_ABORTED':
      return 'BRISK_UPSTREAM_RESET';
    case 'UND_ERR_INVALID_ARG':
    case 'UND_ERR_NOT_SUPPORTED':
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
      return 'BRISK_BAD_REQUEST';
    default:
      if (typeof code === 'string' && code.startsWith('HPE_')) return 'BRISK_UPSTREAM_BAD_RESPONSE';
      if (typeof code === 'string' && isTlsFailure(code)) return 'BRISK_UPSTREAM_TLS_FAILED';
      // undici's HTTPParserError often carries no code at all (its llhttp error number is
      // not mapped to a name), so a target answering garbage is recognised by the name.
      if ((err as { name?: unknown } | null)?.name === 'HTTPParserError') return 'BRISK_UPSTREAM_BAD_RESPONSE';
      return 'BRISK_INTERNAL';
  }
}

/**
 * TLS handshake failures: OpenSSL's (`ERR_SSL_…`), node's (`ERR_TLS_…`, such as a
 * certificate that names another host) and the X.509 verification results
 * (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `CERT_HAS_EXPIRED`, `DEPTH_ZERO_SELF_SIGNED_CERT`, …).
 */
function isTlsFailure(code: string): boolean {
  return code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code.startsWith('CERT_') || code.startsWith('UNABLE_TO_') || code.includes('SELF_SIGNED') || code === 'HOSTNAME_MISMATCH';
}

/** A one-line reason for logs and the client message, without internals. */
export function upstreamErrorMessage(code: ErrorCode, upstream: string, target: string): string {
  switch (code) {
    case 'BRISK_UPSTREAM_CONNECT_FAILED':
      return `upstream "${upstream}": could not connect to ${target}`;
    case 'BRISK_UPSTREAM_CONNECT_TIMEOUT':
      return `upstream "${upstream}": connecting to ${target} timed out`;
    case 'BRISK_UPSTREAM_TLS_FAILED':
      return `upstream "${upstream}": the TLS handshake with ${target} failed (certificate not trusted or for another name, client certificate wanted, or no HTTP/2); see the gateway log`;
    case 'BRISK_UPSTREAM_RESPONSE_TIMEOUT':
      return `upstream "${upstream}": ${target} sent no response in time`;
    case 'BRISK_UPSTREAM_IDLE_TIMEOUT':
      return `upstream "${upstream}": ${target} stopped sending the response body`;
    case 'BRISK_UPSTREAM_TOTAL_TIMEOUT':
      return `upstream "${upstream}": the exchange with ${target} exceeded the total timeout`;
    case 'BRISK_UPSTREAM_RESET':
      return `upstream "${upstream}": ${target} closed the connection before a full response`;
    case 'BRISK_UPSTREAM_BAD_RESPONSE':
      return `upstream "${upstream}": ${target} sent an invalid HTTP response`;
    case 'BRISK_BAD_REQUEST':
      return 'the request cannot be forwarded as sent (invalid header or body framing)';
    default:
      return `upstream "${upstream}": request to ${target} failed`;
  }
}
