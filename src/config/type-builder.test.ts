import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { Type as TypeBox } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ConfigSchema } from './schema.js';
import { Type } from './type-builder.js';

// The builder must build what TypeBox builds, key order and symbol markers included:
// the published schema, the compiled validator's fingerprint and Value.Check depend on it.

/** A value as comparable data: each object's own keys in order, symbols named. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  return Reflect.ownKeys(value).map((k) => [typeof k === 'symbol' ? `@${k.description ?? ''}` : k, canonical((value as Record<string | symbol, unknown>)[k])]);
}

describe('the config schema builder', () => {
  test('each builder returns what TypeBox returns, for every form the schemas use', () => {
    const cases: [unknown, unknown][] = [
      [Type.String(), TypeBox.String()],
      [Type.String({ minLength: 1, description: 'd' }), TypeBox.String({ minLength: 1, description: 'd' })],
      [Type.Integer({ minimum: 0, default: 3 }), TypeBox.Integer({ minimum: 0, default: 3 })],
      [Type.Number({ maximum: 1 }), TypeBox.Number({ maximum: 1 })],
      [Type.Boolean({ default: false }), TypeBox.Boolean({ default: false })],
      [Type.Unknown({ description: 'x' }), TypeBox.Unknown({ description: 'x' })],
      [Type.Literal('a'), TypeBox.Literal('a')],
      [Type.Literal(2, { description: 'two' }), TypeBox.Literal(2, { description: 'two' })],
      [Type.Array(Type.String(), { minItems: 1 }), TypeBox.Array(TypeBox.String(), { minItems: 1 })],
      [Type.Optional(Type.String()), TypeBox.Optional(TypeBox.String())],
      [Type.Optional(Type.Optional(Type.String()), false), TypeBox.Optional(TypeBox.Optional(TypeBox.String()), false)],
      [Type.Union([Type.Literal('a'), Type.Integer()], { description: 'u' }), TypeBox.Union([TypeBox.Literal('a'), TypeBox.Integer()], { description: 'u' })],
      [Type.Union([Type.String()], { description: 'one' }), TypeBox.Union([TypeBox.String()], { description: 'one' })],
      [Type.Union([]), TypeBox.Union([])],
      [Type.Record(Type.String(), Type.Integer()), TypeBox.Record(TypeBox.String(), TypeBox.Integer())],
      [Type.Record(Type.String({ pattern: '^[a-z]+$' }), Type.String(), { description: 'r' }), TypeBox.Record(TypeBox.String({ pattern: '^[a-z]+$' }), TypeBox.String(), { description: 'r' })],
      [
        Type.Object({ a: Type.String(), b: Type.Optional(Type.Integer()) }, { additionalProperties: false }),
        TypeBox.Object({ a: TypeBox.String(), b: TypeBox.Optional(TypeBox.Integer()) }, { additionalProperties: false }),
      ],
      [Type.Object({ b: Type.Optional(Type.Integer()) }), TypeBox.Object({ b: TypeBox.Optional(TypeBox.Integer()) })],
    ];
    for (const [ours, theirs] of cases) assert.deepEqual(canonical(ours), canonical(theirs));
  });

  test("TypeBox's Value.Check reads the builder's schemas", () => {
    const schema = Type.Object({ name: Type.String({ minLength: 1 }), port: Type.Optional(Type.Integer({ minimum: 1 })) }, { additionalProperties: false });
    assert.equal(Value.Check(schema, { name: 'a', port: 80 }), true);
    assert.equal(Value.Check(schema, { name: 'a', port: 0 }), false);
    assert.equal(Value.Check(schema, { port: 80 }), false);
  });

  test('a record keyed by something else than a string is refused, not built wrong', () => {
    assert.throws(() => Type.Record(Type.Integer() as never, Type.String()), /only string keys/);
  });

  test('the whole config schema, built with TypeBox in another process, is the same', () => {
    // The builder module is swapped for TypeBox's own by a resolve hook in a child process.
    const typebox = import.meta.resolve('@sinclair/typebox');
    const schemaModule = new URL('./schema.js', import.meta.url).href;
    const hook = `let shim; export function initialize(d) { shim = d; } export async function resolve(s, c, next) { return s.endsWith('/type-builder.js') || s === './type-builder.js' ? { url: shim, shortCircuit: true } : next(s, c); }`;
    const shim = `data:text/javascript,${encodeURIComponent(`export { Type } from ${JSON.stringify(typebox)};`)}`;
    const register = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)}, { data: ${JSON.stringify(shim)} });`;
    const script = `
      const canonical = ${canonical.toString()};
      const { ConfigSchema } = await import(${JSON.stringify(schemaModule)});
      const { Type } = await import(${JSON.stringify(new URL('./type-builder.js', import.meta.url).href)});
      process.stdout.write(JSON.stringify({ viaTypeBox: typeof Type.Composite === 'function', schema: canonical(ConfigSchema) }));`;
    const child = spawnSync(process.execPath, ['--no-warnings', '--import', `data:text/javascript,${encodeURIComponent(register)}`, '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('.', import.meta.url)),
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.equal(child.status, 0, child.stderr);
    const out = JSON.parse(child.stdout) as { viaTypeBox: boolean; schema: unknown };
    assert.equal(out.viaTypeBox, true, 'the child built its schema with TypeBox');
    assert.deepEqual(canonical(ConfigSchema), out.schema);
  });
});
