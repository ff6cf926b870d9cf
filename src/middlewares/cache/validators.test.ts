import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeEntry } from './entry.js';
import { addValidators, removeValidators } from './validators.js';

const opts = { targets: [], defaultTtl: 0, overrideTtl: 0 };
const entry = (headers: string[]) => makeEntry('h/p', 200, 'OK', headers, Buffer.from('x'), 0, 0, null, [], opts, 0);
const LM = 'Wed, 01 Jan 2020 00:00:00 GMT';

describe('validators on a revalidation, and taking them back', () => {
  it('adds If-None-Match, then removes exactly what it added', () => {
    const headers = ['Host', 'h', 'traceparent', 't'];
    const edit = addValidators(headers, entry(['etag', '"a"']))!;
    assert.equal(edit.ourValidatorOnly, true);
    assert.deepEqual(headers, ['Host', 'h', 'traceparent', 't', 'if-none-match', '"a"']);
    headers.push('x-later', '1');
    removeValidators(headers, edit);
    assert.deepEqual(headers, ['Host', 'h', 'traceparent', 't', 'x-later', '1']);
  });

  it("combines with the client's If-None-Match and restores it", () => {
    const headers = ['If-None-Match', '"z"'];
    const edit = addValidators(headers, entry(['etag', '"a"']))!;
    assert.equal(edit.ourValidatorOnly, false);
    assert.deepEqual(headers, ['If-None-Match', '"z", "a"']);
    removeValidators(headers, edit);
    assert.deepEqual(headers, ['If-None-Match', '"z"']);
  });

  it("replaces the client's If-Modified-Since with the stored Last-Modified, and gives it back", () => {
    const headers = ['if-modified-since', 'Mon, 01 Jan 2024 00:00:00 GMT'];
    const edit = addValidators(headers, entry(['last-modified', LM]))!;
    assert.deepEqual(headers, ['if-modified-since', LM]);
    removeValidators(headers, edit);
    assert.deepEqual(headers, ['if-modified-since', 'Mon, 01 Jan 2024 00:00:00 GMT']);
  });

  it("adds nothing next to the client's If-None-Match when the entry has no ETag", () => {
    const headers = ['if-none-match', '"z"'];
    assert.equal(addValidators(headers, entry(['last-modified', LM])), null);
    assert.deepEqual(headers, ['if-none-match', '"z"']);
  });
});
