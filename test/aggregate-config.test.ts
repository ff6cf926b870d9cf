/**
 * Aggregate routes in the configuration: bad files are refused with the file, line and
 * column of the mistake (cycles, unknown parts, unknown upstreams, bad templates, a route
 * with both or neither of upstream and aggregate).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatProblem, parseConfigText } from '../src/config/load.js';

const HEAD = `listen: [{ address: 127.0.0.1:0 }]
upstreams:
  orders: { targets: [{ url: http://127.0.0.1:7301 }] }
  users: { targets: [{ url: http://127.0.0.1:7201 }] }
routes:
`;

/** The formatted problems of a file made of HEAD and `routes`. */
function problems(routes: string): string[] {
  const result = parseConfigText(HEAD + routes, 'brisk.yaml');
  assert.equal(result.ok, false, 'the file is refused');
  return result.ok ? [] : result.problems.map(formatProblem);
}

describe('aggregate configuration', () => {
  it('loads a valid aggregate route, with parts ordered by their dependencies', () => {
    const result = parseConfigText(
      HEAD +
        `  - name: details
    match: { path: /orders/:id/details }
    aggregate:
      timeout: 2s
      parts:
        user: { upstream: users, path: '/users/\${order.userId}', into: order.user, required: false }
        order: { upstream: orders, path: '/orders/\${params.id}' }
`,
      'brisk.yaml',
    );
    assert.ok(result.ok, result.ok ? '' : result.problems.map(formatProblem).join('\n'));
    const route = result.config.routes[0]!;
    assert.equal(route.upstream, '');
    const agg = route.aggregate!;
    assert.deepEqual(agg.parts.map((p) => p.name), ['order', 'user'], 'order first: user needs it');
    assert.deepEqual(agg.order, ['user', 'order'], 'the answer keeps file order');
    assert.deepEqual(agg.parts[1]!.dependsOn, ['order']);
    assert.equal(agg.parts[1]!.timeoutMs, 2000);
    assert.equal(agg.parts[1]!.required, false);
    assert.equal(agg.parts[0]!.required, true);
    assert.deepEqual(result.warnings, [], 'orders and users count as used');
  });

  it('warns about route keys that do not apply to an aggregate route', () => {
    const result = parseConfigText(
      HEAD +
        `  - name: details
    retry: { attempts: 1 }
    timeouts: { response: 1s, total: 3s }
    aggregate:
      parts:
        order: { upstream: orders, path: /o }
        user: { upstream: users, path: /u }
`,
      'brisk.yaml',
    );
    assert.ok(result.ok);
    const text = result.warnings.map(formatProblem).join('\n');
    assert.match(text, /brisk\.yaml:7:5  routes\.0\.retry  retry does not apply to an aggregate route/);
    assert.match(text, /brisk\.yaml:8:17  routes\.0\.timeouts\.response  only timeouts\.total \(the whole answer\) applies to an aggregate route/);
    assert.equal(result.config.routes[0]!.timeouts?.totalMs, 3000);
  });

  it('reports a dependency cycle at the part, with the cycle spelled out', () => {
    const p = problems(`  - name: loop
    aggregate:
      parts:
        a: { upstream: orders, path: '/a/\${b.id}' }
        b: { upstream: orders, path: '/b/\${c.id}' }
        c: { upstream: orders, path: '/c/\${a.id}' }
`);
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0]!, /^brisk\.yaml:9:9  routes\.0\.aggregate\.parts\.a  parts depend on each other in a cycle: a → b → c → a/);
  });

  it('reports unknown parts (with a suggestion), unknown upstreams and bad template syntax at their lines', () => {
    const p = problems(`  - name: bad
    aggregate:
      parts:
        order: { upstream: orders, path: '/orders/\${params.id}' }
        user: { upstream: user, path: '/users/\${ordr.userId}' }
        broken: { upstream: users, path: '/x/\${order.id' }
        nested: { upstream: users, path: '/x', into: nowhere.field }
        each: { upstream: users, path: '/x/\${item}', forEach: missing.list }
        stray: { upstream: users, path: '/x/\${item}' }
`);
    const text = p.join('\n');
    assert.match(text, /brisk\.yaml:10:27  routes\.0\.aggregate\.parts\.user\.upstream  unknown upstream "user"; did you mean "users"\?/);
    assert.match(text, /brisk\.yaml:10:39  routes\.0\.aggregate\.parts\.user\.path  \$\{ordr\.userId\} names unknown part "ordr" \(a placeholder starts with a part name or params, query, headers, item\); did you mean "order"\?/);
    assert.match(text, /brisk\.yaml:11:42  routes\.0\.aggregate\.parts\.broken\.path  bad template: unclosed "\$\{" at character 4/);
    assert.match(text, /brisk\.yaml:12:54  routes\.0\.aggregate\.parts\.nested\.into  into names unknown part "nowhere"/);
    assert.match(text, /brisk\.yaml:13:63  routes\.0\.aggregate\.parts\.each\.forEach  \$\{missing\.list\} names unknown part "missing"/);
    assert.match(text, /brisk\.yaml:14:41  routes\.0\.aggregate\.parts\.stray\.path  \$\{item\} is only available in a part with forEach/);
  });

  it('a route has exactly one of upstream and aggregate', () => {
    const both = problems(`  - name: both
    upstream: orders
    aggregate:
      parts: { a: { upstream: orders, path: /a } }
`);
    assert.match(both.join('\n'), /brisk\.yaml:8:5  routes\.0\.aggregate  a route has one of upstream, aggregate or redirect, not upstream and aggregate/);
    const neither = problems(`  - name: neither
    match: { path: /x }
`);
    assert.match(neither.join('\n'), /brisk\.yaml:6:5  routes\.0\.upstream  missing required key "upstream" \(or "aggregate", for a route that combines several requests, or "redirect"\)/);
  });

  it('refuses reserved part names, self references, merge with into, and nesting in a circle', () => {
    const p = problems(`  - name: odd
    aggregate:
      parts:
        errors: { upstream: orders, path: /e }
        self: { upstream: orders, path: '/s/\${self.id}' }
        both: { upstream: orders, path: /b, merge: true, into: self.x }
        x: { upstream: orders, path: /x, into: y.a }
        y: { upstream: orders, path: /y, into: x.b }
`).join('\n');
    assert.match(p, /parts\.errors  part name "errors" is reserved/);
    assert.match(p, /parts\.self\.path  \$\{self\.id\}: a part cannot use its own result/);
    assert.match(p, /parts\.both\.into  a part is either merged into the top level or nested with into, not both/);
    assert.match(p, /parts are nested into each other in a circle: x → y → x/);
  });
});
