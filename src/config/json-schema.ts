/**
 * The JSON Schema as validated and as published (`brisk schema`). It is the TypeBox
 * `ConfigSchema` with one addition: TypeBox records keyed by a pattern (`upstreams`)
 * only validate the keys that match, so a name like `my api` would slip through
 * unchecked. Adding `propertyNames` makes such names errors, in the loader and in
 * editors alike.
 */
import { ConfigSchema } from './schema.js';

/** A JSON Schema object as plain data (TypeBox's symbol markers dropped). */
export type JsonSchema = { readonly [key: string]: unknown };

const ANY_KEY = '^(.*)$';

/**
 * A plain-data copy of `ConfigSchema` with `propertyNames` added to pattern-keyed records.
 * Built fresh on each call; callers keep the result.
 */
export function publishedSchema(): JsonSchema {
  // The JSON round trip drops TypeBox's symbol keys and gives a copy we may change.
  const copy = JSON.parse(JSON.stringify(ConfigSchema)) as Record<string, unknown>;
  addPropertyNames(copy);
  return copy;
}

function addPropertyNames(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) addPropertyNames(item);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const schema = node as Record<string, unknown>;
  const patterns = schema['patternProperties'];
  if (patterns !== null && typeof patterns === 'object' && schema['properties'] === undefined && schema['propertyNames'] === undefined) {
    const keys = Object.keys(patterns);
    if (keys.length === 1 && keys[0] !== ANY_KEY) schema['propertyNames'] = { pattern: keys[0] };
  }
  for (const value of Object.values(schema)) addPropertyNames(value);
}
