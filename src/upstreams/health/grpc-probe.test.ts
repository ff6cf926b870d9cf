import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthCheckRequest, servingStatusOf } from './grpc-probe.js';

test('HealthCheckRequest and HealthCheckResponse in protobuf, by hand', () => {
  assert.deepEqual(healthCheckRequest(''), Buffer.from([0, 0, 0, 0, 0]), 'no service: an empty message');
  assert.deepEqual(healthCheckRequest('a.B'), Buffer.from([0, 0, 0, 0, 5, 0x0a, 3, 0x61, 0x2e, 0x42]));
  const long = healthCheckRequest('s'.repeat(200));
  assert.deepEqual([...long.subarray(5, 8)], [0x0a, 0xc8, 0x01], 'a varint length past 127');
  assert.equal(servingStatusOf(Buffer.from([0, 0, 0, 0, 2, 0x08, 1])), 1);
  assert.equal(servingStatusOf(Buffer.from([0, 0, 0, 0, 2, 0x08, 2])), 2);
  assert.equal(servingStatusOf(Buffer.from([0, 0, 0, 0, 0])), 0, 'proto3 leaves UNKNOWN (0) out');
  assert.equal(servingStatusOf(Buffer.from([0, 0, 0, 0, 3, 0x08, 1])), null, 'truncated');
  assert.equal(servingStatusOf(Buffer.from([1, 0, 0, 0, 2, 0x08, 1])), null, 'compressed: not read');
});
