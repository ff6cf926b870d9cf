import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GrpcFraming } from './grpc.js';

/** A gRPC message: flag byte, 4-byte length, payload. */
const frame = (payload: string): Buffer => {
  const body = Buffer.from(payload);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
};

test('GrpcFraming knows whether the bytes so far end between two messages, across any chunking', () => {
  const stream = Buffer.concat([frame('hello'), frame(''), frame('x'.repeat(300))]);
  const boundaries = new Set([0, 10, 15, stream.length]);
  for (const size of [1, 2, 3, 7, 64, stream.length]) {
    const f = new GrpcFraming();
    let offset = 0;
    while (offset < stream.length) {
      const chunk = stream.subarray(offset, offset + size);
      f.push(chunk);
      offset += chunk.length;
      assert.equal(f.atBoundary, boundaries.has(offset), `chunks of ${size}, after ${offset} bytes`);
    }
  }
});
