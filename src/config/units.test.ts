import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigSchema } from './schema.js';
import { DURATION_PATTERN, MAX_DURATION_MS, SIZE_PATTERN, durationMs, sizeBytes } from './units.js';

test('durations: numbers are milliseconds, strings carry units', () => {
  assert.equal(durationMs(250), 250);
  assert.equal(durationMs('500ms'), 500);
  assert.equal(durationMs('2s'), 2000);
  assert.equal(durationMs('1.5s'), 1500);
  assert.equal(durationMs('1m'), 60_000);
  assert.equal(durationMs('2h'), 7_200_000);
  assert.equal(durationMs(' 30 s '), 30_000);
  assert.equal(durationMs('750'), 750);
  assert.equal(durationMs('0'), 0);
  // Rounded, so that a tiny timeout never becomes 0 ("no limit").
  assert.equal(durationMs('0.5ms'), 1);
});

test('durations: anything else is undefined', () => {
  for (const bad of ['fast', '1d', '-1s', '1e3', '', 's', '1 2s']) assert.equal(durationMs(bad), undefined, bad);
  assert.equal(durationMs(-5), undefined);
  assert.equal(durationMs(Number.NaN), undefined);
  assert.equal(durationMs('9'.repeat(400)), undefined);
});

test('sizes: binary units, floored to whole bytes', () => {
  assert.equal(sizeBytes(100), 100);
  assert.equal(sizeBytes('16kb'), 16 * 1024);
  assert.equal(sizeBytes('16k'), 16 * 1024);
  assert.equal(sizeBytes('16kib'), 16 * 1024);
  assert.equal(sizeBytes('10mb'), 10 * 1024 * 1024);
  assert.equal(sizeBytes('1gb'), 1024 ** 3);
  assert.equal(sizeBytes('1.5kb'), 1536);
  assert.equal(sizeBytes('10b'), 10);
  assert.equal(sizeBytes('0.5b'), 0);
  assert.equal(sizeBytes('1tb'), undefined);
  assert.equal(sizeBytes('big'), undefined);
});

test('the unit patterns are the ones the schema uses', () => {
  const limits = (ConfigSchema.properties.limits as unknown as { properties: Record<string, { anyOf?: Array<{ pattern?: string }> }> }).properties;
  assert.equal(limits['headersTimeout']?.anyOf?.[0]?.pattern, DURATION_PATTERN);
  assert.equal(limits['maxBodySize']?.anyOf?.[0]?.pattern, SIZE_PATTERN);
});

test('MAX_DURATION_MS is the largest delay setTimeout honours', () => {
  assert.equal(MAX_DURATION_MS, 2_147_483_647);
});
