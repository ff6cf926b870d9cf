/**
 * The calls a gRPC test makes, each recorded as a `Transcript` of what the client saw.
 */
import * as grpc from '@grpc/grpc-js';
import { metadataOf, type EchoClient, type Msg, type Transcript } from './grpc.js';

/** Request metadata every test call sends: text and binary values. */
export function requestMetadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('x-client', 'test');
  md.set('x-client-bin', Buffer.from([9, 8, 7, 0, 255]));
  return md;
}

type Call = grpc.ClientUnaryCall | grpc.ClientReadableStream<Msg> | grpc.ClientWritableStream<Msg> | grpc.ClientDuplexStream<Msg, Msg>;

/** Follows a call's metadata and status into a transcript; resolves when the status arrives. */
function record(call: Call, messages: Msg[], extra?: Promise<unknown>): Promise<Transcript> {
  let headers: Record<string, string[]> = {};
  call.on('metadata', (md: grpc.Metadata) => (headers = metadataOf(md)));
  return new Promise((resolve) => {
    call.on('status', (status: grpc.StatusObject) => {
      void Promise.resolve(extra).then(() =>
        resolve({ messages: [...messages], headers, code: status.code, details: status.details, trailers: metadataOf(status.metadata) }),
      );
    });
  });
}

const options = (deadlineMs = 5000): grpc.CallOptions => ({ deadline: Date.now() + deadlineMs });

export function unary(client: EchoClient, text = 'hi', method = 'Unary', deadlineMs?: number): Promise<Transcript> {
  const messages: Msg[] = [];
  let done!: () => void;
  const answered = new Promise<void>((r) => (done = r));
  const call = client[method]!({ text, n: 41 }, requestMetadata(), options(deadlineMs), (err: grpc.ServiceError | null, m?: Msg) => {
    if (err === null && m !== undefined) messages.push(m);
    done();
  }) as grpc.ClientUnaryCall;
  return record(call, messages, answered);
}

export function serverStream(client: EchoClient, count = 5): Promise<Transcript> {
  const messages: Msg[] = [];
  const call = client['ServerStream']!({ text: 'item', n: count }, requestMetadata(), options()) as grpc.ClientReadableStream<Msg>;
  call.on('data', (m: Msg) => messages.push(m));
  call.on('error', () => {});
  return record(call, messages);
}

export function clientStream(client: EchoClient, texts = ['a', 'b', 'c', 'd']): Promise<Transcript> {
  const messages: Msg[] = [];
  let done!: () => void;
  const answered = new Promise<void>((r) => (done = r));
  const call = client['ClientStream']!(requestMetadata(), options(), (err: grpc.ServiceError | null, m?: Msg) => {
    if (err === null && m !== undefined) messages.push(m);
    done();
  }) as grpc.ClientWritableStream<Msg>;
  const t = record(call, messages, answered);
  let i = 0;
  // Written over time, so the messages cross the gateway as a stream, not as one body.
  const timer = setInterval(() => {
    if (i < texts.length) call.write({ text: texts[i++]!, n: i });
    else {
      clearInterval(timer);
      call.end();
    }
  }, 5);
  return t;
}

/** A conversation: each message is written after the answer to the previous one came back. */
export function bidi(client: EchoClient, texts = ['one', 'two', 'three']): Promise<Transcript> {
  const messages: Msg[] = [];
  const call = client['Bidi']!(requestMetadata(), options()) as grpc.ClientDuplexStream<Msg, Msg>;
  call.on('error', () => {});
  let i = 0;
  call.on('data', (m: Msg) => {
    messages.push(m);
    if (++i < texts.length) call.write({ text: texts[i]!, n: i });
    else call.end();
  });
  call.write({ text: texts[0]!, n: 0 });
  return record(call, messages);
}

/** Every kind of call, in order. */
export async function allCalls(client: EchoClient): Promise<Record<string, Transcript>> {
  return {
    unary: await unary(client),
    serverStream: await serverStream(client),
    clientStream: await clientStream(client),
    bidi: await bidi(client),
    fail: await unary(client, 'bad', 'Fail'),
  };
}
