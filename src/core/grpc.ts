/**
 * gRPC's side of the contracts: its status codes, how a Brisk error reads to a gRPC
 * client, the media type that marks a request as gRPC, and `grpc-timeout`. Shared by
 * the config (retried statuses), the proxy (answers, deadlines) and health checks.
 */
import { ERROR_CODES, type ErrorCode } from './errors.js';

/** The canonical gRPC status codes (grpc/doc/statuscodes.md), by name. */
export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcStatusName = keyof typeof GRPC_STATUS;

/** The status names, in code order (for schemas and docs). */
export const GRPC_STATUS_NAMES = Object.keys(GRPC_STATUS) as GrpcStatusName[];

/**
 * The gRPC status a Brisk error is answered with when the client speaks gRPC. Chosen by
 * what the client should do: `UNAVAILABLE` for what a retry may fix (no target, refused,
 * reset, breaker open, shed), `DEADLINE_EXCEEDED` for timeouts, `RESOURCE_EXHAUSTED` for
 * a client over its rate limit or a body too large, `UNAUTHENTICATED`/`PERMISSION_DENIED`
 * for auth. Codes not listed follow their HTTP status as gRPC's HTTP mapping does
 * (grpc/doc/http-grpc-status-mapping.md).
 */
const BY_CODE: Partial<Record<ErrorCode, number>> = {
  BRISK_UNAUTHORIZED: GRPC_STATUS.UNAUTHENTICATED,
  BRISK_FORBIDDEN: GRPC_STATUS.PERMISSION_DENIED,
  BRISK_UPGRADE_NOT_ALLOWED: GRPC_STATUS.PERMISSION_DENIED,
  BRISK_ROUTE_NOT_FOUND: GRPC_STATUS.UNIMPLEMENTED,
  BRISK_BAD_REQUEST: GRPC_STATUS.INTERNAL,
  BRISK_HEADERS_TOO_LARGE: GRPC_STATUS.RESOURCE_EXHAUSTED,
  BRISK_BODY_TOO_LARGE: GRPC_STATUS.RESOURCE_EXHAUSTED,
  BRISK_RATE_LIMITED: GRPC_STATUS.RESOURCE_EXHAUSTED,
  BRISK_REQUEST_TIMEOUT: GRPC_STATUS.DEADLINE_EXCEEDED,
  BRISK_UPSTREAM_CONNECT_TIMEOUT: GRPC_STATUS.UNAVAILABLE,
  BRISK_UPSTREAM_RESPONSE_TIMEOUT: GRPC_STATUS.DEADLINE_EXCEEDED,
  BRISK_UPSTREAM_IDLE_TIMEOUT: GRPC_STATUS.DEADLINE_EXCEEDED,
  BRISK_UPSTREAM_TOTAL_TIMEOUT: GRPC_STATUS.DEADLINE_EXCEEDED,
  BRISK_QUEUE_TIMEOUT: GRPC_STATUS.UNAVAILABLE,
  BRISK_CACHE_ONLY_IF_CACHED: GRPC_STATUS.UNAVAILABLE,
  BRISK_UPSTREAM_BAD_RESPONSE: GRPC_STATUS.UNAVAILABLE,
  BRISK_INTERNAL: GRPC_STATUS.INTERNAL,
};

/** The gRPC status for an HTTP status, as gRPC clients map an HTTP answer without one. */
export function grpcStatusOfHttp(status: number): number {
  switch (status) {
    case 400:
      return GRPC_STATUS.INTERNAL;
    case 401:
      return GRPC_STATUS.UNAUTHENTICATED;
    case 403:
      return GRPC_STATUS.PERMISSION_DENIED;
    case 404:
      return GRPC_STATUS.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GRPC_STATUS.UNAVAILABLE;
    default:
      return GRPC_STATUS.UNKNOWN;
  }
}

/** The gRPC status a Brisk error is answered with (see `BY_CODE`). */
export function grpcStatusOf(code: ErrorCode): number {
  return BY_CODE[code] ?? grpcStatusOfHttp(ERROR_CODES[code].status);
}

/**
 * gRPC statuses that say the server failed, as a 5xx does (gRPC's HTTP mapping: UNKNOWN,
 * INTERNAL, UNAVAILABLE and DATA_LOSS are 500/503): outlier detection and the circuit
 * breaker count them so, though they arrive with HTTP 200. A DEADLINE_EXCEEDED is
 * usually the client's own tight deadline, and the others are answers about the request.
 */
export function isGrpcServerFailure(status: number): boolean {
  return status === GRPC_STATUS.UNKNOWN || status === GRPC_STATUS.INTERNAL || status === GRPC_STATUS.UNAVAILABLE || status === GRPC_STATUS.DATA_LOSS;
}

/** True when a `content-type` value is gRPC's (`application/grpc`, `application/grpc+proto`, …), not gRPC-Web. */
export function isGrpcContentType(value: string | undefined): boolean {
  if (value === undefined || value.length < 16) return false;
  if (value.slice(0, 16).toLowerCase() !== 'application/grpc') return false;
  const next = value.charCodeAt(16);
  // `application/grpc`, `application/grpc+proto`, `application/grpc;…`; not `application/grpc-web`.
  return Number.isNaN(next) || next === 43 /* + */ || next === 59 /* ; */;
}

const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * Parses `grpc-timeout` (`1S`, `250m`, `100u`: at most 8 digits and a unit, gRPC over
 * HTTP/2 spec) into milliseconds; null when it is not a valid value.
 *
 * @example
 * parseGrpcTimeout('250m'); // 250
 */
export function parseGrpcTimeout(value: string): number | null {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value.trim());
  if (m === null) return null;
  return Number(m[1]) * TIMEOUT_UNIT_MS[m[2]!]!;
}

/**
 * Formats milliseconds left as a `grpc-timeout` value: whole milliseconds while they fit
 * in 8 digits, seconds beyond. At least `1m`: a deadline that has passed is sent as
 * nearly nothing left, not as none.
 */
export function formatGrpcTimeout(ms: number): string {
  const whole = Math.max(1, Math.ceil(ms));
  return whole < 100_000_000 ? `${whole}m` : `${Math.ceil(whole / 1000)}S`;
}

/**
 * Percent-encodes a `grpc-message` (gRPC over HTTP/2 spec: bytes outside printable ASCII,
 * and `%`, as `%XX` of their UTF-8).
 */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The `grpc-status` value in a flat raw header (or trailer) list, or -1 when there is none. */
export function grpcStatusIn(rawHeaders: readonly Buffer[]): number {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 11 && name.toString('latin1').toLowerCase() === 'grpc-status') {
      const value = Number(rawHeaders[i + 1]!.toString('latin1'));
      return Number.isInteger(value) && value >= 0 ? value : -1;
    }
  }
  return -1;
}
