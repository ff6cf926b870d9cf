import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteConfig, RouteMatch, RouteRewrite } from '../config/types.js';
import { compileRouter, type CompiledRoute } from './index.js';

function compiled(match: Partial<RouteMatch>, rewrite: RouteRewrite | undefined): CompiledRoute {
  const config: RouteConfig = {
    name: 'r',
    index: 0,
    upstream: 'u',
    maxBodySize: 0,
    match: { hosts: [], methods: [], headers: {}, query: {}, ...match },
    rewrite,
  };
  return compileRouter([config]).routes[0]!;
}

/** Matches `path` and rewrites it, as the pipeline does. */
function rewriteVia(match: Partial<RouteMatch>, rewrite: RouteRewrite, path: string): string {
  const router = compileRouter([
    { name: 'r', index: 0, upstream: 'u', maxBodySize: 0, match: { hosts: [], methods: [], headers: {}, query: {}, ...match }, rewrite },
  ]);
  const hit = router.match('GET', undefined, path, '', {});
  assert.ok(hit, `no match for ${path}`);
  assert.ok(hit.route.rewritePath);
  return hit.route.rewritePath(path, hit.params);
}

describe('rewritePath', () => {
  it('is null when nothing is rewritten', () => {
    assert.equal(compiled({ pathPrefix: '/a' }, undefined).rewritePath, null);
    assert.equal(compiled({ pathPrefix: '/a' }, {}).rewritePath, null);
    assert.equal(compiled({ pathPrefix: '/a' }, { addPrefix: '/' }).rewritePath, null);
  });

  it('stripPrefix on segment boundaries, always leaving a leading slash', () => {
    const rw = compiled({ pathPrefix: '/api' }, { stripPrefix: '/api' }).rewritePath!;
    assert.equal(rw('/api/users', null), '/users');
    assert.equal(rw('/api', null), '/');
    assert.equal(rw('/api/', null), '/');
    assert.equal(rw('/apix', null), '/apix', 'not on a boundary: unchanged');
    assert.equal(rw('/other', null), '/other');
    const slash = compiled({ pathPrefix: '/api/' }, { stripPrefix: '/api/' }).rewritePath!;
    assert.equal(slash('/api/users', null), '/users');
    assert.equal(slash('/api/', null), '/');
  });

  it('addPrefix joins without a double slash', () => {
    const a = compiled({}, { addPrefix: '/v2' }).rewritePath!;
    assert.equal(a('/users', null), '/v2/users');
    assert.equal(a('/', null), '/v2/');
    const b = compiled({}, { addPrefix: '/v2/' }).rewritePath!;
    assert.equal(b('/users', null), '/v2/users');
    assert.equal(b('/', null), '/v2/');
  });

  it('strip then add', () => {
    const rw = compiled({ pathPrefix: '/api' }, { stripPrefix: '/api', addPrefix: '/internal' }).rewritePath!;
    assert.equal(rw('/api/x/y', null), '/internal/x/y');
    assert.equal(rw('/api', null), '/internal/');
  });

  it('path template with :name and ${name}, nothing else kept', () => {
    assert.equal(rewriteVia({ path: '/users/:id/orders/:oid' }, { path: '/v2/orders/:oid?user=${id}' }, '/users/7/orders/9'), '/v2/orders/9?user=7');
    assert.equal(rewriteVia({ path: '/users/:id' }, { path: '/people/${id}/profile' }, '/users/abc'), '/people/abc/profile');
    assert.equal(rewriteVia({ path: '/old' }, { path: '/new' }, '/old'), '/new');
  });

  it(':name is a placeholder only at a segment start', () => {
    assert.equal(rewriteVia({ path: '/items/:id' }, { path: '/v1/items/:id:batchGet' }, '/items/5'), '/v1/items/5:batchGet');
    assert.equal(rewriteVia({ path: '/x' }, { path: '/v1/items:batchGet' }, '/x'), '/v1/items:batchGet');
  });

  it('* and ${*} carry the rest', () => {
    assert.equal(rewriteVia({ path: '/static/*' }, { path: '/assets/*' }, '/static/css/a.css'), '/assets/css/a.css');
    assert.equal(rewriteVia({ path: '/static/*' }, { path: '/assets/${*}' }, '/static/css/a.css'), '/assets/css/a.css');
    assert.equal(rewriteVia({ path: '/static/*' }, { path: '/assets/*' }, '/static'), '/assets/');
  });

  it('never creates // where pieces join', () => {
    assert.equal(rewriteVia({ path: '/static/*' }, { path: '/assets/*/index.html' }, '/static/'), '/assets/index.html');
    assert.equal(rewriteVia({ path: '/s/*' }, { path: '/a/*' }, '/s//x'), '/a/x');
    assert.equal(rewriteVia({ path: '/s/*' }, { path: '/a/*', addPrefix: '/p/' }, '/s/x'), '/p/a/x');
  });

  it('template then addPrefix, stripPrefix before the template', () => {
    assert.equal(rewriteVia({ path: '/api/u/:id' }, { stripPrefix: '/api', path: '/users/:id', addPrefix: '/v3' }, '/api/u/1'), '/v3/users/1');
  });

  it('substitutes parameters as received, never decoded into new segments', () => {
    assert.equal(rewriteVia({ path: '/f/:name' }, { path: '/files/:name' }, '/f/a%2F..%2Fetc'), '/files/a%2F..%2Fetc');
    assert.equal(rewriteVia({ path: '/f/:name' }, { path: '/files/:name' }, '/f/J%C3%BCrgen'), '/files/J%C3%BCrgen');
    assert.equal(rewriteVia({ path: '/f/:name' }, { path: '/files/:name' }, '/f/%E0%A4%A'), '/files/%E0%A4%A');
  });

  it('regex groups fill the template as received', () => {
    assert.equal(rewriteVia({ pathRegex: '^/v(?<ver>[0-9]+)/(?<rest>.*)$' }, { path: '/api/${ver}/${rest}' }, '/v2/a%20b/c'), '/api/2/a%20b/c');
  });

  it('encodes given params when the path is not the route\'s', () => {
    const rw = compiled({ path: '/f/:name/*' }, { path: '/x/:name/*' }).rewritePath!;
    assert.equal(rw('/elsewhere', { name: 'a/b c', '*': 'd e/f' }), '/x/a%2Fb%20c/d%20e/f');
    assert.equal(rw('/elsewhere', null), '/x/');
  });
});
