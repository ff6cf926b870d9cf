import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseReference, parseTemplate, render, TemplateSyntaxError, UnresolvedError, type TemplateScope } from './template.js';

function scope(parts: Record<string, unknown>, extra: Partial<TemplateScope> = {}): TemplateScope {
  return {
    param: (n) => ({ id: '4 2/x' })[n],
    query: (n) => ({ q: 'a&b' })[n],
    header: (n) => ({ 'x-tenant': 'acme' })[n],
    part: (n) => parts[n],
    item: undefined,
    ...extra,
  };
}

describe('aggregate templates', () => {
  it('parses literals and references, marking those in the query', () => {
    const t = parseTemplate('/orders/${params.id}/x?ids=${order.productIds}&h=${headers.X-Tenant}', 'path');
    assert.deepEqual(t.literals, ['/orders/', '/x?ids=', '&h=', '']);
    assert.deepEqual(
      t.refs.map((r) => [r.source, r.fields, r.inQuery]),
      [
        ['params', ['id'], false],
        ['order', ['productIds'], true],
        ['headers', ['x-tenant'], true],
      ],
    );
  });

  it('reports syntax errors with the position', () => {
    assert.throws(() => parseTemplate('/a/${b', 'path'), (e: unknown) => e instanceof TemplateSyntaxError && e.offset === 3 && /character 4/.test(e.message));
    assert.throws(() => parseTemplate('/a/${}', 'path'), /empty placeholder/);
    assert.throws(() => parseTemplate('/a/${params}', 'path'), /params takes exactly one name/);
    assert.throws(() => parseTemplate('/a/${order..id}', 'path'), /invalid field/);
    assert.throws(() => parseTemplate('/a/${9x}', 'path'), /invalid name/);
  });

  it('renders values percent-encoded in paths, lists joined with commas', () => {
    const s = scope({ order: { userId: 7, productIds: [1, 'a b', 3], nested: { ok: true } } });
    assert.equal(render(parseTemplate('/u/${order.userId}?ids=${order.productIds}&n=${order.nested.ok}', 'path'), s, 'path'), '/u/7?ids=1,a%20b,3&n=true');
    assert.equal(render(parseTemplate('/p/${params.id}?q=${query.q}', 'path'), s, 'path'), '/p/4%202%2Fx?q=a%26b');
    assert.equal(render(parseTemplate('t-${headers.x-tenant}', 'value'), s, 'value'), 't-acme');
  });

  it('fills ${item} from the fan-out element, and fields of it', () => {
    const t = parseTemplate('/p/${item}/${item.sku}', 'path');
    assert.equal(render(parseTemplate('/p/${item}', 'path'), scope({}, { item: 5 }), 'path'), '/p/5');
    assert.equal(render(t, scope({}, { item: Object.assign([9], { sku: 'k' }) }), 'path').startsWith('/p/9/'), true);
  });

  it('refuses missing values, objects and nested lists instead of sending something wrong', () => {
    const s = scope({ order: { a: null, o: { x: 1 }, l: [[1]] } });
    for (const text of ['/${order.missing}', '/${order.a}', '/${order.o}', '/${order.l}', '/${nothing.x}', '/${params.nope}']) {
      assert.throws(() => render(parseTemplate(text, 'path'), s, 'path'), UnresolvedError, text);
    }
  });

  it('does not follow inherited properties (no __proto__ or constructor tricks)', () => {
    const s = scope({ order: { id: 1 } });
    assert.throws(() => render(parseTemplate('/${order.constructor}', 'path'), s, 'path'), UnresolvedError);
    assert.throws(() => render(parseTemplate('/${order.__proto__}', 'path'), s, 'path'), UnresolvedError);
  });

  it('keeps header values free of line breaks', () => {
    const s = scope({ p: { v: 'a\r\nX-Evil: 1' } });
    assert.equal(render(parseTemplate('${p.v}', 'value'), s, 'value'), 'a%0D%0AX-Evil: 1');
  });

  it('reads a forEach reference bare or as a placeholder', () => {
    assert.deepEqual(parseReference('order.productIds').fields, ['productIds']);
    assert.deepEqual(parseReference('${order.productIds}').source, 'order');
  });
});
