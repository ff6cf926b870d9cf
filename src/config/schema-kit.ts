/**
 * The building blocks every config schema fragment uses (the core schema, the middlewares',
 * the upstream resilience keys, alerting, aggregation): one definition, so that a duration
 * or a size is written, validated and documented the same way under every key.
 */
import { Type, type StringOptions, type TSchema } from './type-builder.js';
import { DURATION_PATTERN, SIZE_PATTERN, durationMs, sizeBytes } from './units.js';

/** A duration: milliseconds, or a string with a unit (`500ms`, `2s`). */
export const Duration = (description: string, def?: string) =>
  Type.Union([Type.String({ pattern: DURATION_PATTERN }), Type.Number({ minimum: 0 })], {
    description: `${description} A duration: a number of milliseconds or a string such as \`500ms\`, \`2s\`, \`1m\`, \`1h\`.`,
    ...(def === undefined ? {} : { default: def }),
  });

/** A size: bytes, or a string with a unit (`16kb`, `10mb`). */
export const Size = (description: string, def?: string) =>
  Type.Union([Type.String({ pattern: SIZE_PATTERN }), Type.Number({ minimum: 0 })], {
    description: `${description} A size: a number of bytes or a string such as \`16kb\`, \`10mb\`, \`1gb\`.`,
    ...(def === undefined ? {} : { default: def }),
  });

/** An object that refuses unknown keys (a typo is an error, not a silently ignored key). */
export const Strict = <T extends Record<string, TSchema>>(props: T, description: string) => Type.Object(props, { additionalProperties: false, description });

/**
 * The `default` of the schema property at `path` below `root` (`*` steps into a record's
 * values or a list's items), so that a schema stays the only place its defaults are
 * written down. Throws when there is none: that is a mistake in this program, caught by
 * every test that loads a configuration.
 *
 * @example
 * schemaDefault(UpstreamSchema, 'pool', 'connections') // 128
 */
export function schemaDefault(root: TSchema, ...path: string[]): unknown {
  let node: unknown = root;
  for (const step of path) node = child(node, step);
  const value = (node as { default?: unknown } | undefined)?.default;
  if (value === undefined) throw new Error(`the schema has no default for ${path.join('.')}`);
  return value;
}

/** A duration default (`schemaDefault`) in milliseconds. */
export function defaultMs(root: TSchema, ...path: string[]): number {
  const value = durationMs(schemaDefault(root, ...path) as string | number);
  if (value === undefined) throw new Error(`bad duration default for ${path.join('.')}`);
  return value;
}

/** A size default (`schemaDefault`) in bytes. */
export function defaultBytes(root: TSchema, ...path: string[]): number {
  const value = sizeBytes(schemaDefault(root, ...path) as string | number);
  if (value === undefined) throw new Error(`bad size default for ${path.join('.')}`);
  return value;
}

function child(node: unknown, step: string): unknown {
  if (node === null || typeof node !== 'object') return undefined;
  const schema = node as Record<string, unknown>;
  if (step === '*') {
    if (schema['items'] !== undefined) return schema['items'];
    const patterns = schema['patternProperties'] as Record<string, unknown> | undefined;
    return patterns === undefined ? undefined : Object.values(patterns)[0];
  }
  const found = (schema['properties'] as Record<string, unknown> | undefined)?.[step];
  if (found !== undefined || !Array.isArray(schema['anyOf'])) return found;
  // A union (`accessLog: true | {…}`): the first member that has the property.
  for (const member of schema['anyOf'] as unknown[]) {
    const inMember = child(member, step);
    if (inMember !== undefined) return inMember;
  }
  return undefined;
}

/**
 * The keyword that carries the sentence shown when a string does not match its `pattern`,
 * instead of the regular expression. The loader uses it (src/config/validate.ts); VS Code
 * and the YAML language server show it too, which is why it has this name.
 */
export const PATTERN_ERROR_MESSAGE = 'patternErrorMessage';

/**
 * A string that must match `pattern`; `message` says in words what is accepted.
 *
 * @example
 * PatternString('^/', 'must start with "/"', { description: 'The path.' })
 */
export const PatternString = (pattern: string, message: string, options: StringOptions = {}) => Type.String({ ...options, pattern, [PATTERN_ERROR_MESSAGE]: message });
