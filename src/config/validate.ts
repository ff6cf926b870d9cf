/**
 * Schema validation with readable messages. Ajv reports every branch of every union
 * it tried; a user wants one sentence per mistake, at the right place. This module
 * turns Ajv's errors into `PathProblem`s: unions collapse to one message (or to the
 * errors of the one branch the value was evidently meant for), unknown keys get a
 * "did you mean", durations and sizes say what they look like.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { runInThisContext } from 'node:vm';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { didYouMean } from './did-you-mean.js';
import { publishedSchema } from './json-schema.js';
import type { PathProblem, PathSegment } from './positions.js';
import type { RawConfig } from './schema.js';
import { PATTERN_ERROR_MESSAGE } from './schema-kit.js';
import { DURATION_PATTERN, SIZE_PATTERN } from './units.js';
import { compileValidatorScript } from './validator-cache.js';
import { compileStandalone, GENERATED_VALIDATOR, schemaFingerprint, storeValidator, VALIDATOR_OPTIONS } from './validator-code.js';

const NAME_PATTERN = '^[A-Za-z0-9_.:-]+$';
const TOKEN_PATTERN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

let compiled: ValidateFunction<RawConfig> | undefined;
/** Writes the build validator's code cache after the validation that compiled its checks; null when there is nothing to write. */
let storeCodeCache: (() => void) | null = null;
let codeCacheTried = false;

const require = createRequire(import.meta.url);

/**
 * The compiled validator, on first use: the one compiled at build time when it was
 * compiled from this very schema (validator-code.ts), else compiled now (most of a
 * second: Ajv and its code generation are loaded only then).
 */
function validator(): ValidateFunction<RawConfig> {
  if (compiled !== undefined) return compiled;
  const schema = publishedSchema();
  // The build's validator is not kept: its 1.5 MB of source and its compiled code would
  // stay in memory for a reload that may never come (loading it again costs ~50 ms).
  // The code cache at the first load only (start-up, what it is for): V8 takes a cache made
  // under the same flags, and a serving process changes one (young-generation.ts), so a
  // reload would only write one the next start cannot use.
  const built = precompiled(schema, `./${GENERATED_VALIDATOR}`, !codeCacheTried);
  codeCacheTried = true;
  if (built !== null) return built;
  // None, or one of another schema (a bare `tsc` rewrote dist/): compiled now, as the build
  // would, and stored so that the next start finds it.
  const { validate, source } = compileStandalone(schema);
  storeValidator(source);
  return (compiled = validate as ValidateFunction<RawConfig>);
}

/**
 * The validator compiled straight from the schema (no hoisting, no source kept): what
 * Brisk compiled at every start before the build compiled it, kept as the reference the
 * build's validator is checked against (validator-code.test.ts).
 */
export function compile(schema: ReturnType<typeof publishedSchema>): ValidateFunction<RawConfig> {
  const { Ajv } = require('ajv') as typeof import('ajv');
  const ajv = new Ajv(VALIDATOR_OPTIONS);
  // An annotation: the words shown when a pattern fails (see schema-kit.ts).
  ajv.addKeyword(PATTERN_ERROR_MESSAGE);
  return ajv.compile<RawConfig>(schema);
}

/**
 * The build's validator when its fingerprint is this schema's (and this Ajv's); null
 * otherwise. With `codeCache`, compiled with V8's code cache beside it (validator-cache.ts),
 * which the first validation writes when there was none that fitted.
 */
export function precompiled(schema: ReturnType<typeof publishedSchema>, file = `./${GENERATED_VALIDATOR}`, codeCache = false): ValidateFunction<RawConfig> | null {
  let mod: { fingerprint?: unknown } & ValidateFunction<RawConfig>;
  let path: string;
  let source: string;
  try {
    path = require.resolve(file);
    source = readFileSync(path, 'utf8');
  } catch {
    return null; // not generated (a build that skipped scripts/gen-validator.mjs)
  }
  // Evaluated as CommonJS by hand rather than required: a required module stays listed in
  // the `children` of the module createRequire made, whatever require.cache forgets, and
  // with it the validator and its megabytes of source would stay in memory for good.
  const module = { exports: {} as unknown };
  const script = codeCache ? compileValidatorScript(path, source) : { run: runInThisContext(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: path }) as (...args: unknown[]) => void, store: null };
  script.run(module.exports, require, module, path, dirname(path));
  mod = module.exports as typeof mod;
  const version = (require('ajv/package.json') as { version: string }).version;
  if (typeof mod !== 'function' || mod.fingerprint !== schemaFingerprint(schema, version)) return null;
  storeCodeCache = script.store;
  return mod;
}

/**
 * Validates parsed YAML against the schema. Returns the typed configuration when it
 * is valid, or the problems (unordered; the loader sorts them by position).
 */
export function validateSchema(
  data: unknown,
  coercible?: (path: readonly PathSegment[]) => boolean,
  validate: ValidateFunction<RawConfig> = validator(),
): { ok: true; raw: RawConfig } | { ok: false; problems: PathProblem[] } {
  // Each round converts the values the schema wants as numbers or booleans; nested unions may need one more.
  for (let round = 0; round < 3; round++) {
    const ok = validate(data);
    if (storeCodeCache !== null) {
      const store = storeCodeCache;
      storeCodeCache = null;
      store();
    }
    if (ok) return { ok: true, raw: data };
    if (coercible === undefined || !coerce(data, validate.errors ?? [], coercible)) break;
  }
  return { ok: false, problems: humanise(validate.errors ?? []) };
}

/**
 * Text put in by `${VAR}` (substitute.ts) where the schema wants a number, an integer or
 * a boolean, converted when it is one: `port: ${PORT}` is the number 8080, while a
 * numeric password stays text. Only values `coercible` names are touched. True when one
 * was converted (validate again).
 */
function coerce(data: unknown, errors: readonly AjvError[], coercible: (path: readonly PathSegment[]) => boolean): boolean {
  let changed = false;
  for (const e of errors) {
    if (typeof e.data !== 'string' || (e.keyword !== 'type' && e.keyword !== 'anyOf')) continue;
    const wanted = e.keyword === 'type' ? [String((e.params as { type?: unknown }).type)] : ((e.parentSchema?.['anyOf'] as Array<{ type?: unknown }> | undefined) ?? []).map((b) => String(b.type));
    const path = pointerToPath(e.instancePath);
    if (path.length === 0 || !coercible(path)) continue;
    const value = scalarOf(e.data, wanted);
    if (value === undefined) continue;
    const parent = path.slice(0, -1).reduce<unknown>((node, key) => (node as Record<string | number, unknown>)[key], data) as Record<string | number, unknown>;
    parent[path.at(-1)!] = value;
    changed = true;
  }
  return changed;
}

function scalarOf(text: string, wanted: readonly string[]): number | boolean | undefined {
  const t = text.trim();
  if (wanted.includes('boolean') && (t === 'true' || t === 'false')) return t === 'true';
  if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(t)) return undefined;
  const n = Number(t);
  if (wanted.includes('number') || (wanted.includes('integer') && Number.isInteger(n))) return n;
  return undefined;
}

type AjvError = ErrorObject;

function humanise(errors: readonly AjvError[]): PathProblem[] {
  const consumed = new Set<AjvError>();
  const problems: PathProblem[] = [];
  // Outermost unions first: each takes all errors of its branches with it.
  const unions = errors.filter((e) => e.keyword === 'anyOf').sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  for (const union of unions) {
    if (consumed.has(union)) continue;
    consumed.add(union);
    const prefix = `${union.schemaPath}/`;
    const inner = errors.filter((e) => e.schemaPath.startsWith(prefix));
    for (const e of inner) consumed.add(e);
    problems.push(...unionProblems(union, inner));
  }
  // propertyNames reports the failing keyword (pattern) for the key as well; one message is enough.
  for (const e of errors) if (e.keyword !== 'propertyNames' && e.propertyName !== undefined) consumed.add(e);
  for (const e of errors) if (!consumed.has(e)) problems.push(single(e));
  return problems;
}

function unionProblems(union: AjvError, inner: readonly AjvError[]): PathProblem[] {
  const path = pointerToPath(union.instancePath);
  const schema = union.parentSchema ?? {};
  const branches = Array.isArray(schema['anyOf']) ? (schema['anyOf'] as Record<string, unknown>[]) : [];
  const patterns = branches.map((b) => b['pattern']);
  if (patterns.includes(DURATION_PATTERN)) {
    return [{ path, message: `expected a duration such as "500ms", "2s", "1m" (or a number of milliseconds); got ${describe(union.data)}` }];
  }
  if (patterns.includes(SIZE_PATTERN)) {
    return [{ path, message: `expected a size such as "16kb", "10mb", "1gb" (or a number of bytes); got ${describe(union.data)}` }];
  }
  // The branch whose type the value has is the one the user meant: report its errors instead.
  const perBranch = branches.map((_, i) => inner.filter((e) => e.schemaPath.startsWith(`${union.schemaPath}/${i}/`)));
  const meant = perBranch.filter(
    (errs) => !errs.some((e) => e.instancePath === union.instancePath && (e.keyword === 'type' || e.keyword === 'const' || e.keyword === 'enum')),
  );
  if (meant.length === 1) return humanise(meant[0] as AjvError[]);
  const constants = branches.filter((b) => 'const' in b).map((b) => b['const']);
  if (constants.length === branches.length && branches.length > 0) {
    const names = constants.map((c) => JSON.stringify(c));
    const hint = typeof union.data === 'string' ? didYouMean(union.data, constants.filter((c): c is string => typeof c === 'string')) : '';
    return [{ path, message: `expected one of ${names.join(', ')}; got ${describe(union.data)}${hint}` }];
  }
  return [{ path, message: `expected ${branches.map(expectation).join(' or ')}; got ${describe(union.data)}` }];
}

function single(e: AjvError): PathProblem {
  const path = pointerToPath(e.instancePath);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(params['additionalProperty']);
      const known = Object.keys((e.parentSchema?.['properties'] as Record<string, unknown> | undefined) ?? {});
      const hint = didYouMean(key, known);
      const message = hint !== '' ? `unknown key ${JSON.stringify(key)}${hint}` : `unknown key ${JSON.stringify(key)}; expected one of: ${known.join(', ')}`;
      return { path: [...path, key], message, at: 'key' };
    }
    case 'required':
      return { path: [...path, String(params['missingProperty'])], message: `missing required key ${JSON.stringify(params['missingProperty'])}` };
    case 'propertyNames': {
      const name = String(params['propertyName']);
      return { path: [...path, name], message: `invalid name ${JSON.stringify(name)}: use only letters, digits and "_", ".", ":", "-"`, at: 'key' };
    }
    case 'type': {
      const expected = typeName(String(params['type']));
      const hint = e.instancePath.endsWith('/address') && typeof e.data === 'number' ? `; write a bare port in quotes: "${e.data}"` : '';
      return { path, message: `expected ${expected}; got ${describe(e.data)}${hint}` };
    }
    case 'pattern': {
      const custom = e.parentSchema?.[PATTERN_ERROR_MESSAGE];
      return { path, message: `${typeof custom === 'string' ? custom : patternMessage(String(params['pattern']))}; got ${describe(e.data)}` };
    }
    case 'minLength':
      return { path, message: 'must not be empty' };
    case 'minItems':
      return { path, message: Number(params['limit']) === 1 ? 'must not be an empty list' : `must list at least ${String(params['limit'])} items` };
    case 'minimum':
      return { path, message: `must be at least ${String(params['limit'])}; got ${describe(e.data)}` };
    case 'maximum':
      return { path, message: `must be at most ${String(params['limit'])}; got ${describe(e.data)}` };
    case 'const':
      return { path, message: `expected ${JSON.stringify(params['allowedValue'])}; got ${describe(e.data)}` };
    default:
      return { path, message: `${e.message ?? 'is invalid'}; got ${describe(e.data)}` };
  }
}

function patternMessage(pattern: string): string {
  switch (pattern) {
    case NAME_PATTERN:
      return 'may only contain letters, digits and "_", ".", ":", "-"';
    case TOKEN_PATTERN:
      return 'is not a valid HTTP method (letters, digits and !#$%&\'*+.^_`|~-)';
    case '^/':
      return 'must start with "/"';
    case '^https?://':
      return 'must be an http:// or https:// URL';
    case DURATION_PATTERN:
      return 'expected a duration such as "500ms", "2s", "1m"';
    case SIZE_PATTERN:
      return 'expected a size such as "16kb", "10mb", "1gb"';
    default:
      return `must match /${pattern}/`;
  }
}

function typeName(type: string): string {
  switch (type) {
    case 'object':
      return 'a mapping (key: value)';
    case 'array':
      return 'a list';
    case 'integer':
      return 'a whole number';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'string':
      return 'a string';
    default:
      return type;
  }
}

/** What a union branch accepts, for "expected X or Y". */
function expectation(branch: Record<string, unknown>): string {
  if ('const' in branch) return JSON.stringify(branch['const']);
  const type = String(branch['type']);
  if (type === 'array') {
    const items = branch['items'] as Record<string, unknown> | undefined;
    return items === undefined ? 'a list' : `a list of ${plural(expectation(items))}`;
  }
  if (type === 'object' && branch['properties'] !== undefined) {
    const keys = Object.keys(branch['properties'] as Record<string, unknown>);
    return `a mapping with ${keys.length === 1 ? keys[0] : `${keys.slice(0, -1).join(', ')} or ${keys.at(-1)}`}`;
  }
  return typeName(type);
}

function plural(phrase: string): string {
  return phrase.replace(/^an? (\w+)/, '$1s');
}

/** A value as quoted in a message: strings quoted (and cut when long), containers named. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}

/** `/routes/1/upstream` → `['routes', 1, 'upstream']` (JSON Pointer unescaping included). */
export function pointerToPath(pointer: string): PathSegment[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9]\d*)$/.test(s) ? Number(s) : s));
}
