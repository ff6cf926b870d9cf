import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HeaderEdits, RouteConfig, RouteMatch } from '../config/types.js';
import { compileRouter, type HeaderEditor } from './index.js';

function editor(edits: Partial<HeaderEdits>, match: Partial<RouteMatch> = { path: '/u/:id' }): HeaderEditor | null {
  const config: RouteConfig = {
    name: 'r',
    index: 0,
    upstream: 'u',
    maxBodySize: 0,
    match: { hosts: [], methods: [], headers: {}, query: {}, ...match },
    requestHeaders: { set: {}, add: {}, remove: [], ...edits },
    responseHeaders: { set: {}, add: {}, remove: [], ...edits },
  };
  const route = compileRouter([config]).routes[0]!;
  assert.equal(route.requestHeaderEdits === null, route.responseHeaderEdits === null);
  return route.requestHeaderEdits;
}

describe('header editor', () => {
  it('is null when there is nothing to do', () => {
    assert.equal(editor({}), null);
  });

  it('removes case-insensitively, keeping the other headers in order', () => {
    const raw = ['Host', 'h', 'X-Internal', '1', 'Accept', '*/*', 'x-INTERNAL', '2', 'Cookie', 'c'];
    editor({ remove: ['x-internal', 'cookie'] })!.apply(raw, null, 'id');
    assert.deepEqual(raw, ['Host', 'h', 'Accept', '*/*']);
  });

  it('set replaces every existing value; add appends', () => {
    const raw = ['X-Env', 'a', 'Via', '1.1 x', 'x-env', 'b'];
    editor({ set: { 'x-env': 'prod' }, add: { via: '1.1 brisk' } })!.apply(raw, null, 'id');
    assert.deepEqual(raw, ['Via', '1.1 x', 'x-env', 'prod', 'via', '1.1 brisk']);
  });

  it('set names from the config are compared case-insensitively too', () => {
    const raw = ['x-env', 'a'];
    editor({ set: { 'X-Env': 'b' } })!.apply(raw, null, 'id');
    assert.deepEqual(raw, ['x-env', 'b']);
  });

  it('fills ${param} and ${requestId}; a missing param is empty', () => {
    const raw: string[] = [];
    editor({ set: { 'x-user': 'user-${id}', 'x-req': '${requestId}' }, add: { 'x-both': '${id}/${requestId}' } })!.apply(raw, { id: '42' }, 'req-9');
    assert.deepEqual(raw, ['x-user', 'user-42', 'x-req', 'req-9', 'x-both', '42/req-9']);
    const raw2: string[] = [];
    editor({ set: { 'x-user': 'u=${id};' } })!.apply(raw2, null, 'r');
    assert.deepEqual(raw2, ['x-user', 'u=;']);
  });

  it('percent-encodes characters a header value may not hold, so a param cannot inject headers', () => {
    const raw: string[] = [];
    editor({ set: { 'x-user': '${id}' } })!.apply(raw, { id: 'a\r\nx-admin: 1' }, 'r');
    assert.deepEqual(raw, ['x-user', 'a%0D%0Ax-admin: 1']);
    const raw2: string[] = [];
    editor({ set: { 'x-user': '${id}' } })!.apply(raw2, { id: 'Jürgen €\t\uD800' }, 'r');
    assert.deepEqual(raw2, ['x-user', 'J%C3%BCrgen %E2%82%AC\t%EF%BF%BD']);
  });

  it('uses regex named groups as params', () => {
    const router = compileRouter([
      {
        name: 'r',
        index: 0,
        upstream: 'u',
        maxBodySize: 0,
        match: { hosts: [], methods: [], headers: {}, query: {}, pathRegex: '^/t/(?<tenant>[a-z]+)' },
        requestHeaders: { set: { 'x-tenant': '${tenant}' }, add: {}, remove: [] },
      },
    ]);
    const hit = router.match('GET', undefined, '/t/acme/x', '', {})!;
    const raw: string[] = [];
    hit.route.requestHeaderEdits!.apply(raw, hit.params, 'r');
    assert.deepEqual(raw, ['x-tenant', 'acme']);
  });

  it('tolerates an odd-length list without throwing', () => {
    const raw = ['a', '1', 'dangling'];
    editor({ remove: ['a'] })!.apply(raw, null, 'r');
    assert.deepEqual(raw, ['dangling']);
  });
});
