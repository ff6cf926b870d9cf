import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { Base64Decoder, Base64Encoder, GrpcWeb, grpcContentTypeOf, grpcWebContentTypeOf, grpcWebKind, trailerFrame } from './grpc-web.js';

test('gRPC-Web content types, and the gRPC types they become', () => {
  assert.equal(grpcWebKind('application/grpc-web'), GrpcWeb.Binary);
  assert.equal(grpcWebKind('application/grpc-web+proto'), GrpcWeb.Binary);
  assert.equal(grpcWebKind('application/grpc-web-text'), GrpcWeb.Text);
  assert.equal(grpcWebKind('Application/gRPC-Web-Text+proto'), GrpcWeb.Text);
  for (const no of ['application/grpc', 'application/grpc-webx', 'application/grpc-web-textual', 'text/plain']) assert.equal(grpcWebKind(no), GrpcWeb.None, no);
  assert.equal(grpcContentTypeOf('application/grpc-web-text+proto'), 'application/grpc+proto');
  assert.equal(grpcContentTypeOf('application/grpc-web'), 'application/grpc');
  assert.equal(grpcWebContentTypeOf('application/grpc+json', GrpcWeb.Text), 'application/grpc-web-text+json');
  assert.equal(grpcWebContentTypeOf(undefined, GrpcWeb.Binary), 'application/grpc-web+proto');
});

test('base64 across chunks: padded runs decoded one by one, output 3-byte aligned', async () => {
  const a = Buffer.from([1, 2, 3, 4]);
  const b = Buffer.from([5]);
  // Two messages each padded on their own, split at awkward places.
  const text = a.toString('base64') + b.toString('base64');
  const chunks = [text.slice(0, 3), text.slice(3, 9), text.slice(9)].map((s) => Buffer.from(s));
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks).pipe(new Base64Decoder())) out.push(c as Buffer);
  assert.deepEqual(Buffer.concat(out), Buffer.concat([a, b]));
  const enc = new Base64Encoder();
  const parts = [enc.push(Buffer.from([1])), enc.push(Buffer.from([2, 3, 4, 5])), enc.end()];
  assert.deepEqual(parts.map((p) => p.length % 4), [0, 0, 0]);
  assert.deepEqual(Buffer.from(parts.join(''), 'base64'), Buffer.from([1, 2, 3, 4, 5]));
  assert.deepEqual([...trailerFrame(['Grpc-Status', '0']).subarray(0, 5)], [0x80, 0, 0, 0, 15], 'grpc-status:0\r\n');
});
