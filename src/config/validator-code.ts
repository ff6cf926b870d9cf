/**
 * The config validator, compiled ahead of time. Compiling the whole config schema with Ajv
 * takes most of a second (it generates one function of about 1.5 MB for a 150 KB schema),
 * and every start paid it before the first request could be served. `npm run build`
 * (scripts/gen-validator.mjs) writes the compiled code next to this module instead, and
 * `validate.ts` loads it when its fingerprint is that of the schema in hand; otherwise
 * (a build that skipped the step, a schema changed since) it compiles it at start, as
 * before, and writes it there for the next start.
 *
 * Object schemas are hoisted into `$defs` and compiled as functions of their own
 * (`inlineRefs: false`): V8 compiles a function only when it is first called, so a
 * config without alerting, services or a cache never pays for compiling their checks.
 * Nothing below a union (`anyOf`, …) is hoisted: the messages match a union's errors to
 * its branches by schema path prefix, which must stay one path.
 */
import { createHash } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ValidateFunction } from 'ajv';
import type { JsonSchema } from './json-schema.js';
import { PATTERN_ERROR_MESSAGE } from './schema-kit.js';

/** The Ajv options of the validator (both paths): `verbose` errors carry the schema and data the messages are made from. */
export const VALIDATOR_OPTIONS = { allErrors: true, verbose: true, strict: true } as const;

/** File name of the compiled validator, next to this module in dist/. */
export const GENERATED_VALIDATOR = 'validator.generated.cjs';

/** Subschemas smaller than this (JSON characters) stay inline: a call costs more than it saves. */
const HOIST_MIN_CHARS = 1500;
const COMBINATORS = new Set(['anyOf', 'oneOf', 'allOf', 'not', 'if', 'then', 'else']);

/** What identifies a compiled validator: the schema's text and the Ajv version that compiled it. */
export function schemaFingerprint(schema: JsonSchema, ajvVersion: string): string {
  return createHash('sha256').update(ajvVersion).update('\n').update(JSON.stringify(schema)).digest('hex');
}

/**
 * A copy of `schema` whose larger object subschemas (outside unions) are moved to `$defs`
 * and referred to by `$ref`, so that Ajv compiles each into its own function.
 */
export function hoistObjects(schema: JsonSchema): JsonSchema {
  const root = JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
  const defs: Record<string, unknown> = {};
  let next = 0;
  const visit = (node: unknown, isRoot: boolean): unknown => {
    if (Array.isArray(node)) return node.map((n) => visit(n, false));
    if (node === null || typeof node !== 'object') return node;
    const obj = node as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      if (COMBINATORS.has(key)) continue;
      if (key === 'properties' || key === 'patternProperties') {
        const props = obj[key] as Record<string, unknown>;
        for (const name of Object.keys(props)) props[name] = visit(props[name], false);
      } else if (key === 'items' || key === 'additionalProperties') obj[key] = visit(obj[key], false);
    }
    if (!isRoot && obj['type'] === 'object' && JSON.stringify(obj).length >= HOIST_MIN_CHARS) {
      const name = `h${next++}`;
      defs[name] = obj;
      return { $ref: `#/$defs/${name}` };
    }
    return obj;
  };
  visit(root, true);
  if (next > 0) root['$defs'] = { ...((root['$defs'] as Record<string, unknown> | undefined) ?? {}), ...defs };
  return root;
}

/**
 * Compiles the validator of `schema` as the build does, returning the function and its
 * CommonJS source (exporting the function and its `fingerprint`). Loads Ajv.
 */
export function compileStandalone(schema: JsonSchema): { validate: ValidateFunction; source: string } {
  const require = createRequire(import.meta.url);
  const { Ajv } = require('ajv') as typeof import('ajv');
  const standalone = (require('ajv/dist/standalone/index.js') as { default: (ajv: unknown, fn: unknown) => string }).default;
  const version = (require('ajv/package.json') as { version: string }).version;
  const ajv = new Ajv({ ...VALIDATOR_OPTIONS, inlineRefs: false, code: { source: true } });
  ajv.addKeyword(PATTERN_ERROR_MESSAGE);
  const validate = ajv.compile(hoistObjects(schema));
  const fingerprint = schemaFingerprint(schema, version);
  const source = `// Generated from the config schema (src/config/validator-code.ts) by scripts/gen-validator.mjs or at a start that found none. Do not edit.\n${asciiOnly(standalone(ajv, validate))}\nmodule.exports.fingerprint = ${JSON.stringify(fingerprint)};\n`;
  return { validate, source };
}

/**
 * The code with every character outside ASCII written as a `\\uXXXX` escape. They occur
 * only in string literals (the schema's descriptions and messages: `…`, `→`), where the
 * escape means the same; one such character would make V8 hold the whole 1.5 MB source
 * as two bytes a character, and scan it so.
 */
function asciiOnly(code: string): string {
  return code.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The CommonJS source of the compiled validator of `schema` (build time: scripts/gen-validator.mjs). */
export function validatorSource(schema: JsonSchema): string {
  return compileStandalone(schema).source;
}

/**
 * Writes a compiled validator's source next to this module for the next start (as the
 * build would have). Written aside and renamed, so a process starting meanwhile reads
 * the old file or the new one, never half of one. False when it cannot be written (a
 * read-only install): then every start compiles, as before there was a build step.
 */
export function storeValidator(source: string): boolean {
  const file = join(dirname(fileURLToPath(import.meta.url)), GENERATED_VALIDATOR);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, source);
    renameSync(tmp, file);
    return true;
  } catch {
    rmSync(tmp, { force: true });
    return false;
  }
}
