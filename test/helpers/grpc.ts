/**
 * A real gRPC service (`@grpc/grpc-js`) for tests: an echo service with the four kinds of
 * call and a failing method, its client, and a transcript of what a client sees (messages,
 * initial metadata, status, trailing metadata), so a call through Brisk can be compared
 * with the same call made directly.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ECHO_PROTO = `
syntax = "proto3";
package brisk.test;
service Echo {
  rpc Unary (Msg) returns (Msg);
  rpc ServerStream (Msg) returns (stream Msg);
  rpc ClientStream (stream Msg) returns (Msg);
  rpc Bidi (stream Msg) returns (stream Msg);
  rpc Fail (Msg) returns (Msg);
  rpc Slow (Msg) returns (Msg);
}
message Msg { string text = 1; int32 n = 2; }
`;

export interface Msg {
  text: string;
  n: number;
}

/** The echo service's generated client constructor. */
export type EchoClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

/** Loads the echo service definition (written to a temporary file for proto-loader). */
export function loadEcho(): { service: grpc.ServiceDefinition; Client: new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => EchoClient } {
  const dir = mkdtempSync(join(tmpdir(), 'brisk-grpc-'));
  const file = join(dir, 'echo.proto');
  writeFileSync(file, ECHO_PROTO);
  const definition = protoLoader.loadSync(file, { keepCase: true, defaults: true });
  rmSync(dir, { recursive: true, force: true });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { brisk: { test: { Echo: grpc.ServiceClientConstructor } } };
  const Echo = pkg.brisk.test.Echo;
  return { service: Echo.service, Client: Echo as unknown as new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => EchoClient };
}

/** Metadata every answer carries, binary values included. */
function initialMetadata(name: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('x-init', `hello ${name}`);
  md.set('x-init-bin', Buffer.from([0, 1, 2, 250, 255]));
  return md;
}

function trailingMetadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('x-trail', 'bye');
  md.set('x-trail-bin', Buffer.from([255, 0, 128, 7]));
  return md;
}

/** What the server saw of the last calls (metadata keys, by method). */
export interface EchoServer {
  readonly port: number;
  /** Request metadata of each call, by method name. */
  readonly seen: { method: string; metadata: grpc.Metadata; deadline: grpc.Deadline }[];
  /** Calls of `Slow` the server saw cancelled (the client or the gateway gave up). */
  readonly cancelled: () => number;
  /** Set the health status (`grpc.health.v1`) of a service ('' for the server). */
  setHealth(service: string, serving: boolean): void;
  stop(): Promise<void>;
}

/** Starts the echo service on 127.0.0.1 (h2c), with the standard health service. */
export async function startEchoServer(options: { failStatus?: number; unaryStatus?: number } = {}): Promise<EchoServer> {
  const { service } = loadEcho();
  const server = new grpc.Server();
  const seen: { method: string; metadata: grpc.Metadata; deadline: grpc.Deadline }[] = [];
  const failStatus = options.failStatus ?? grpc.status.INVALID_ARGUMENT;
  let cancelled = 0;
  server.addService(service, {
    Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
      seen.push({ method: 'Unary', metadata: call.metadata, deadline: call.getDeadline() });
      // A server that cannot serve (shutting down, overloaded): a trailers-only status, no message.
      if (options.unaryStatus !== undefined) return cb({ code: options.unaryStatus, details: 'not now' });
      call.sendMetadata(initialMetadata('unary'));
      cb(null, { text: `echo ${call.request.text}`, n: call.request.n + 1 }, trailingMetadata());
    },
    ServerStream(call: grpc.ServerWritableStream<Msg, Msg>) {
      seen.push({ method: 'ServerStream', metadata: call.metadata, deadline: call.getDeadline() });
      call.sendMetadata(initialMetadata('server-stream'));
      for (let i = 0; i < call.request.n; i++) call.write({ text: `${call.request.text} ${i}`, n: i });
      call.end(trailingMetadata());
    },
    ClientStream(call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
      seen.push({ method: 'ClientStream', metadata: call.metadata, deadline: call.getDeadline() });
      const texts: string[] = [];
      call.on('data', (m: Msg) => texts.push(m.text));
      call.on('end', () => cb(null, { text: texts.join('+'), n: texts.length }, trailingMetadata()));
    },
    Bidi(call: grpc.ServerDuplexStream<Msg, Msg>) {
      seen.push({ method: 'Bidi', metadata: call.metadata, deadline: call.getDeadline() });
      call.sendMetadata(initialMetadata('bidi'));
      call.on('data', (m: Msg) => call.write({ text: `re: ${m.text}`, n: m.n * 2 }));
      call.on('end', () => call.end(trailingMetadata()));
    },
    Fail(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
      seen.push({ method: 'Fail', metadata: call.metadata, deadline: call.getDeadline() });
      const md = trailingMetadata();
      md.set('x-error-detail-bin', Buffer.from('détail ✓', 'utf8'));
      cb({ code: failStatus, details: `no good: ${call.request.text} ✗ 100%`, metadata: md });
    },
    Slow(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
      seen.push({ method: 'Slow', metadata: call.metadata, deadline: call.getDeadline() });
      const timer = setTimeout(() => cb(null, { text: 'late', n: 0 }), call.request.n);
      call.on('cancelled', () => {
        clearTimeout(timer);
        cancelled++;
      });
    },
  });
  const health = await addHealthService(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err))),
  );
  return {
    port,
    seen,
    cancelled: () => cancelled,
    setHealth: health,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

/**
 * The standard health service, written by hand with raw protobuf (grpc.health.v1 has two
 * tiny messages), so the test needs no extra package: `HealthCheckRequest { string
 * service = 1; }`, `HealthCheckResponse { ServingStatus status = 1; }` (SERVING = 1,
 * NOT_SERVING = 2, SERVICE_UNKNOWN = 3).
 */
async function addHealthService(server: grpc.Server): Promise<(service: string, serving: boolean) => void> {
  const statuses = new Map<string, number>([
    ['', 1],
    ['brisk.test.Echo', 1],
  ]);
  const identity = (b: Buffer): Buffer => b;
  server.addService(
    {
      Check: {
        path: '/grpc.health.v1.Health/Check',
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      Check(call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) {
        const req = call.request;
        const service = req.length > 2 && req[0] === 0x0a ? req.subarray(2, 2 + req[1]!).toString('utf8') : '';
        const status = statuses.get(service);
        if (status === undefined) cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${service}` });
        else cb(null, Buffer.from([0x08, status]));
      },
    },
  );
  return (service, serving) => statuses.set(service, serving ? 1 : 2);
}

/** What a client saw of one call. */
export interface Transcript {
  messages: Msg[];
  /** Initial metadata the server sent (gateway-added keys left out), binary values base64. */
  headers: Record<string, string[]>;
  code: number;
  details: string;
  trailers: Record<string, string[]>;
}

/** Metadata as plain data; keys a gateway adds on its own (`via`, the request id) left out. */
export function metadataOf(md: grpc.Metadata | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (md === undefined) return out;
  for (const [key, values] of Object.entries(md.getMap())) {
    if (key === 'via' || key === 'x-request-id' || key === 'date') continue;
    out[key] = md.get(key).map((v) => (Buffer.isBuffer(v) ? `bin:${v.toString('base64')}` : String(v)));
    void values;
  }
  return out;
}
