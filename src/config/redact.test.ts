import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from './load.js';
import { REDACTED, isSecretKey, redactConfig } from './redact.js';

test('isSecretKey recognises secret-looking names, not key files', () => {
  for (const k of ['password', 'clientSecret', 'apiKey', 'x-api-key', 'authorization', 'set-cookie', 'x-auth-token', 'key', 'privateKey']) {
    assert.equal(isSecretKey(k), true, k);
  }
  for (const k of ['keyFile', 'certFile', 'keepAliveTimeoutMs', 'name', 'hostHeader', 'monkey', 'keys', 'x-request-id']) {
    assert.equal(isSecretKey(k), false, k);
  }
});

test('redactConfig hides header values that carry credentials and keeps the rest', () => {
  const result = parseConfigText(
    [
      'listen: [{ address: "127.0.0.1:0" }]',
      'upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }] } }',
      'routes:',
      '  - name: r',
      '    upstream: a',
      '    match: { headers: { Authorization: { prefix: "Bearer secret-1" }, accept: json } }',
      '    requestHeaders: { set: { X-Api-Key: secret-2, x-tenant: t1 } }',
    ].join('\n'),
    'r.yaml',
  );
  assert.ok(result.ok);
  const shown = JSON.stringify(redactConfig(result.config));
  assert.doesNotMatch(shown, /secret-1|secret-2/);
  const copy = redactConfig(result.config) as { routes: Array<{ match: { headers: Record<string, unknown> }; requestHeaders: { set: Record<string, unknown> } }> };
  const route = copy.routes[0];
  assert.ok(route);
  assert.equal(route.match.headers['authorization'], REDACTED);
  assert.deepEqual(route.match.headers['accept'], { exact: 'json' });
  assert.equal(route.requestHeaders.set['x-api-key'], REDACTED);
  assert.equal(route.requestHeaders.set['x-tenant'], 't1');
  // A copy: the frozen original is untouched and the copy may be changed.
  assert.deepEqual(result.config.routes[0]?.requestHeaders?.set['x-api-key'], 'secret-2');
  assert.equal(Object.isFrozen(copy), false);
});
