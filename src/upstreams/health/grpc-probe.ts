/**
 * The gRPC health check (`healthCheck.type: grpc`): one call of the standard health
 * service, `grpc.health.v1.Health/Check`, over HTTP/2 (`h2c://` targets in the clear,
 * `https://` ones with TLS and ALPN h2), on a connection of its own that is closed after
 * the answer — like the HTTP probe's `Connection: close`, so a target that stops taking
 * connections is seen at once. The two messages are tiny and written by hand (no
 * protobuf library): `HealthCheckRequest { string service = 1; }` and
 * `HealthCheckResponse { ServingStatus status = 1; }`.
 */
import http2, { type ClientHttp2Session } from 'node:http2';
import { GRPC_STATUS } from '../../core/grpc.js';
import { hostPortOf, openSocket, type TlsMaterial } from '../h2/connect.js';

const PATH = '/grpc.health.v1.Health/Check';
/** `HealthCheckResponse.status` values (grpc/doc/health-checking.md). */
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** The length-prefixed gRPC message of a `HealthCheckRequest` for `service`. */
export function healthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  // Field 1, wire type 2 (length-delimited): tag 0x0a, a varint length, the bytes; empty: no field at all.
  const message = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/** The serving status in a `HealthCheckResponse` body (the length-prefixed message), or null when it cannot be read. */
export function servingStatusOf(body: Buffer): number | null {
  if (body.length < 5 || body[0] !== 0) return null;
  const length = body.readUInt32BE(1);
  const message = body.subarray(5, 5 + length);
  if (message.length !== length) return null;
  // proto3 leaves a zero value out: an empty message is UNKNOWN (0).
  let i = 0;
  let status = 0;
  while (i < message.length) {
    const tag = message[i++]!;
    if (tag === 0x08) {
      const [value, next] = readVarint(message, i);
      if (next < 0) return null;
      status = value;
      i = next;
    } else return null;
  }
  return status;
}

/**
 * Probes `origin` (`h2c://…` or `https://…`); resolves with null when the service is
 * SERVING, else the reason (`NOT_SERVING`, `grpc-status 12 (unknown service)`, …).
 * Rejects on a connection or protocol failure; `signal` aborts it (the checker's timeout).
 */
export async function grpcProbe(origin: string, basePath: string, service: string, tls: TlsMaterial | null, timeoutMs: number, signal: AbortSignal): Promise<string | null> {
  const { host, port, secure } = hostPortOf(origin);
  const socket = await openSocket({ host, port, tls: secure ? (tls ?? { verify: true }) : null, alpn: ['h2'], timeoutMs });
  if (secure && (socket as { alpnProtocol?: string | false }).alpnProtocol !== 'h2') {
    socket.destroy();
    return 'the target did not agree to HTTP/2 (ALPN), which gRPC needs';
  }
  const authority = origin.slice(origin.indexOf('//') + 2);
  const session = http2.connect(`${secure ? 'https' : 'http'}://${authority}`, { createConnection: () => socket, settings: { enablePush: false } });
  session.on('error', () => {});
  try {
    return await check(session, basePath + PATH, service, signal);
  } finally {
    session.destroy();
  }
}

function check(session: ClientHttp2Session, path: string, service: string, signal: AbortSignal): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', 'user-agent': 'brisk-health-check' });
    const onAbort = (): void => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    let httpStatus = 0;
    let grpcStatus: string | undefined;
    let grpcMessage = '';
    const chunks: Buffer[] = [];
    stream.on('response', (headers) => {
      httpStatus = Number(headers[':status']);
      // A trailers-only answer carries its status in the headers.
      if (headers['grpc-status'] !== undefined) grpcStatus = String(headers['grpc-status']);
      grpcMessage = String(headers['grpc-message'] ?? '');
    });
    stream.on('trailers', (trailers) => {
      grpcStatus = String(trailers['grpc-status'] ?? '');
      grpcMessage = String(trailers['grpc-message'] ?? '');
    });
    stream.on('data', (chunk: Buffer) => {
      if (chunks.length < 16) chunks.push(chunk);
    });
    stream.on('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(err);
    });
    stream.on('end', () => {
      signal.removeEventListener('abort', onAbort);
      if (httpStatus !== 200) return resolve(`POST ${path} → HTTP ${httpStatus}`);
      if (grpcStatus !== String(GRPC_STATUS.OK)) return resolve(`grpc-status ${grpcStatus ?? 'missing'}${grpcMessage === '' ? '' : ` (${safeDecode(grpcMessage)})`}`);
      const status = servingStatusOf(Buffer.concat(chunks));
      if (status === null) return resolve('the health service answered something that is not a HealthCheckResponse');
      resolve(status === 1 ? null : (SERVING_STATUS[status] ?? `status ${status}`));
    });
    stream.end(healthCheckRequest(service));
  });
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

function readVarint(buf: Buffer, start: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (let i = start; i < buf.length && shift < 35; i++) {
    const b = buf[i]!;
    value |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [value >>> 0, i + 1];
    shift += 7;
  }
  return [0, -1];
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
