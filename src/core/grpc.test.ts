import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERROR_CODES, type ErrorCode } from './errors.js';
import { encodeGrpcMessage, formatGrpcTimeout, GRPC_STATUS, grpcStatusIn, grpcStatusOf, isGrpcContentType, parseGrpcTimeout } from './grpc.js';

test('grpc-timeout: every unit, at most 8 digits, invalid values refused', () => {
  assert.equal(parseGrpcTimeout('1H'), 3_600_000);
  assert.equal(parseGrpcTimeout('2M'), 120_000);
  assert.equal(parseGrpcTimeout('3S'), 3000);
  assert.equal(parseGrpcTimeout('250m'), 250);
  assert.equal(parseGrpcTimeout('1500u'), 1.5);
  assert.equal(parseGrpcTimeout('99999999n'), 99.999999);
  for (const bad of ['', '5', 'm', '123456789m', '1s', '-1S', '1.5S']) assert.equal(parseGrpcTimeout(bad), null, bad);
  assert.equal(formatGrpcTimeout(1234.2), '1235m');
  assert.equal(formatGrpcTimeout(-5), '1m', 'a passed deadline is sent as nearly nothing left');
  assert.equal(formatGrpcTimeout(200_000_000), '200000S', 'seconds past 8 digits of milliseconds');
});

test('gRPC content types, not gRPC-Web', () => {
  for (const yes of ['application/grpc', 'application/grpc+proto', 'Application/GRPC+json', 'application/grpc;charset=x']) assert.ok(isGrpcContentType(yes), yes);
  for (const no of [undefined, 'application/grpc-web', 'application/grpc-web+proto', 'application/json', 'application/grpcx']) assert.ok(!isGrpcContentType(no), String(no));
});

test('every Brisk error code maps to a gRPC status: timeouts, limits and unavailability as a client should read them', () => {
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    const status = grpcStatusOf(code);
    assert.ok(Number.isInteger(status) && status > 0 && status <= 16, code);
  }
  assert.equal(grpcStatusOf('BRISK_NO_HEALTHY_TARGET'), GRPC_STATUS.UNAVAILABLE);
  assert.equal(grpcStatusOf('BRISK_UPSTREAM_TOTAL_TIMEOUT'), GRPC_STATUS.DEADLINE_EXCEEDED);
  assert.equal(grpcStatusOf('BRISK_RATE_LIMITED'), GRPC_STATUS.RESOURCE_EXHAUSTED);
  assert.equal(grpcStatusOf('BRISK_UNAUTHORIZED'), GRPC_STATUS.UNAUTHENTICATED);
  assert.equal(grpcStatusOf('BRISK_ROUTE_NOT_FOUND'), GRPC_STATUS.UNIMPLEMENTED);
  assert.equal(grpcStatusOf('BRISK_CIRCUIT_OPEN'), GRPC_STATUS.UNAVAILABLE);
});

test('grpc-message is percent-encoded UTF-8; grpc-status is read from raw headers', () => {
  assert.equal(encodeGrpcMessage('no good: ✗ 100%'), 'no good: %E2%9C%97 100%25');
  const raw = ['content-type', 'application/grpc', 'Grpc-Status', '14'].map((s) => Buffer.from(s));
  assert.equal(grpcStatusIn(raw), 14);
  assert.equal(grpcStatusIn([]), -1);
});
