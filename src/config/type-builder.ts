/**
 * The schema builder every config schema uses: the eleven TypeBox builders Brisk calls,
 * written out here so that a start does not load TypeBox. Its ESM build is about two
 * hundred modules, and loading them was a fifth of the time from `brisk start` to the
 * first answer, to build objects this file builds in a few lines.
 *
 * Each function returns exactly what TypeBox 0.34's returns — the same keys in the same
 * order, TypeBox's `Kind` and `Optional` symbol markers included — so the published JSON
 * Schema, its fingerprint (the compiled validator's key) and TypeBox's own `Value.Check`
 * are unchanged; `type-builder.test.ts` builds the whole config schema with both and
 * compares them. The types are TypeBox's (type imports only: nothing of it is loaded).
 *
 * @example
 * import { Type, type Static } from './type-builder.js';
 * const Limits = Type.Object({ max: Type.Optional(Type.Integer({ minimum: 1 })) });
 * type Limits = Static<typeof Limits>;
 */
import type { Type as TypeBoxType } from '@sinclair/typebox';

export type { Static, StringOptions, TLiteral, TOptional, TSchema, TUnion } from '@sinclair/typebox';

/** TypeBox's marker of a schema's kind (`Symbol.for`: the very symbol TypeBox uses). */
const Kind = Symbol.for('TypeBox.Kind');
/** TypeBox's marker of an optional property. */
const OptionalKind = Symbol.for('TypeBox.Optional');
/** The pattern of a record keyed by any string (TypeBox's `PatternStringExact`). */
const ANY_KEY = '^(.*)$';

type Schema = Record<string | symbol, unknown>;
type Options = Record<string, unknown> | undefined;

/** TypeBox's `CreateType` in its default instance mode: the options first, the schema's own keys over them. */
function create(schema: Schema, options: Options): Schema {
  return options !== undefined ? { ...options, ...schema } : schema;
}

function isOptional(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Schema)[OptionalKind] === 'Optional';
}

function object(properties: Record<string, unknown>, options?: Options): Schema {
  const required = Object.keys(properties).filter((key) => !isOptional(properties[key]));
  const schema: Schema = required.length > 0 ? { [Kind]: 'Object', type: 'object', required, properties } : { [Kind]: 'Object', type: 'object', properties };
  return create(schema, options);
}

function optional(schema: Schema, enable?: boolean): Schema {
  if (enable ?? true) return { ...schema, [OptionalKind]: 'Optional' };
  const copy = { ...schema };
  delete copy[OptionalKind];
  return copy;
}

function union(types: readonly Schema[], options?: Options): Schema {
  if (types.length === 0) return create({ [Kind]: 'Never', not: {} }, options);
  if (types.length === 1) return create(types[0]!, options);
  return create({ [Kind]: 'Union', anyOf: types }, options);
}

function record(key: Schema, value: Schema, options: Options = {}): Schema {
  // Brisk keys its records by strings only (with or without a pattern); TypeBox's other key kinds are not written out.
  if (key[Kind] !== 'String') throw new Error(`Type.Record: only string keys are supported here, not ${String(key[Kind])}`);
  const pattern = typeof key['pattern'] === 'string' ? key['pattern'] : ANY_KEY;
  return create({ [Kind]: 'Record', type: 'object', patternProperties: { [pattern]: value } }, options);
}

const builder = {
  Object: object,
  Optional: optional,
  Union: union,
  Record: record,
  String: (options?: Options): Schema => create({ [Kind]: 'String', type: 'string' }, options),
  Integer: (options?: Options): Schema => create({ [Kind]: 'Integer', type: 'integer' }, options),
  Number: (options?: Options): Schema => create({ [Kind]: 'Number', type: 'number' }, options),
  Boolean: (options?: Options): Schema => create({ [Kind]: 'Boolean', type: 'boolean' }, options),
  Unknown: (options?: Options): Schema => create({ [Kind]: 'Unknown' }, options),
  Literal: (value: string | number | boolean, options?: Options): Schema => create({ [Kind]: 'Literal', const: value, type: typeof value }, options),
  Array: (items: Schema, options?: Options): Schema => create({ [Kind]: 'Array', type: 'array', items }, options),
};

/** The builders Brisk's schemas use, typed as TypeBox's (same names, same results). */
export const Type = builder as unknown as Pick<
  typeof TypeBoxType,
  'Object' | 'Optional' | 'Union' | 'Record' | 'String' | 'Integer' | 'Number' | 'Boolean' | 'Unknown' | 'Literal' | 'Array'
>;
