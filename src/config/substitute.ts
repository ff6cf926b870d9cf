/**
 * `${VAR}`, `${VAR:-default}` and `${file:PATH}` in configuration values, substituted in
 * the parsed YAML document before it is validated, so that secrets and per-environment
 * settings need not be written into the file.
 *
 * Why in the document and not in the text (as Docker Compose does): a value from the
 * environment can never change the structure of the file (a `: ` or a newline in it
 * stays part of one string), keys are never substituted, and every scalar keeps its
 * place, so problems still point at the right line and column.
 *
 * Rules:
 * - Only upper-case names (`[A-Z_][A-Z0-9_]*`) are environment variables: `${id}` and
 *   `${requestId}` stay as they are, because header edits, rewrites and redirects use
 *   them as route templates.
 * - `${VAR:-default}` takes `default` when VAR is unset or empty (POSIX `:-`).
 * - `${file:PATH}` is the content of a file (Docker and Kubernetes secrets), relative to
 *   the config file, with one trailing newline removed.
 * - `$${` is a literal `${`.
 * - A substituted value is text. Where the schema wants a number or a boolean, text that
 *   is one is taken as one (see `coercible` in validate.ts); elsewhere it stays a string,
 *   so a numeric password stays a string.
 *
 * Values are never logged or put into messages: a problem names the variable or the file.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { isAlias, isMap, isPair, isScalar, isSeq, visit, type Document, type Node, type Pair, type Scalar } from './yaml.js';
import type { PathSegment } from './positions.js';

/** A problem found while substituting, at a character offset of the file. */
export interface SubstitutionProblem {
  readonly offset: number;
  readonly path: readonly PathSegment[];
  readonly message: string;
}

/** What substitution did to a document. */
export interface SubstitutionResult {
  readonly problems: readonly SubstitutionProblem[];
  /** The scalars whose value came (in part) from a reference: only these may be read as numbers or booleans. */
  readonly substituted: ReadonlySet<Node>;
  /**
   * The values put in, each with how to name it in a message instead (`${DB_PASSWORD}`),
   * so that a later problem about a value never shows a secret.
   */
  readonly values: ReadonlyArray<{ readonly value: string; readonly label: string }>;
}

/** Where substitution reads from; the process environment and the file system unless a test brings its own. */
export interface SubstitutionSources {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Directory `${file:…}` paths are relative to. */
  readonly baseDir: string;
  readFile?(path: string): string;
}

/** Largest secret file read (a secret is small; a mistyped path to a log file must not be read whole). */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

/**
 * Substitutes every reference in the scalar values of `doc`, in place. Keys are left
 * alone. Never throws: an unset variable or an unreadable file is a problem with the
 * offset of its `${` in `text`.
 *
 * @example
 * const result = substituteReferences(doc, text, { env: process.env, baseDir: '/etc/brisk' });
 * // "password: ${DB_PASSWORD}" → "password: s3cret" in the document; result.problems is empty
 */
export function substituteReferences(doc: Document.Parsed, text: string, sources: SubstitutionSources): SubstitutionResult {
  const problems: SubstitutionProblem[] = [];
  const substituted = new Set<Node>();
  const values: Array<{ value: string; label: string }> = [];
  visit(doc, {
    Scalar(key, node, ancestors) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
      const path = pathOf(ancestors, node);
      const source = sourceText(node, text);
      const out = expand(node.value, (reference, index) => {
        const offset = (node.range?.[0] ?? 0) + locateInSource(source, reference, index);
        const found = resolveReference(reference, sources);
        if ('problem' in found) {
          problems.push({ offset, path, message: found.problem });
          return '';
        }
        values.push({ value: found.value, label: `\${${reference}}` });
        return found.value;
      });
      if (out === null) return;
      node.value = out;
      substituted.add(node);
    },
  });
  return { problems, substituted, values };
}

/**
 * Expands the references of one value; null when it holds none (nothing to change).
 * `lookup` gets the text between `${` and `}` and which unescaped `${` of the value it is.
 */
function expand(value: string, lookup: (reference: string, index: number) => string): string | null {
  let out = '';
  let changed = false;
  let from = 0;
  // Every unescaped `${` counts, reference or not, so that the caller finds it in the source.
  let occurrence = 0;
  for (;;) {
    const open = value.indexOf('${', from);
    if (open === -1) break;
    if (open > 0 && value[open - 1] === '$') {
      // `$${` is an escaped, literal `${`.
      out += value.slice(from, open - 1) + '${';
      from = open + 2;
      changed = true;
      continue;
    }
    const close = value.indexOf('}', open + 2);
    const reference = close === -1 ? '' : value.slice(open + 2, close);
    const index = occurrence++;
    if (close === -1 || !isReference(reference)) {
      out += value.slice(from, open + 2);
      from = open + 2;
      continue;
    }
    out += value.slice(from, open) + lookup(reference, index);
    from = close + 1;
    changed = true;
  }
  return changed ? out + value.slice(from) : null;
}

/** `VAR`, `VAR:-default` or `file:PATH`; anything else (a route template such as `id`) is not one. */
function isReference(text: string): boolean {
  if (text.startsWith('file:')) return true;
  const dash = text.indexOf(':-');
  return ENV_NAME.test(dash === -1 ? text : text.slice(0, dash));
}

function resolveReference(reference: string, sources: SubstitutionSources): { value: string } | { problem: string } {
  if (reference.startsWith('file:')) return readSecretFile(reference.slice(5).trim(), sources);
  const dash = reference.indexOf(':-');
  const name = dash === -1 ? reference : reference.slice(0, dash);
  const value = sources.env[name];
  if (dash !== -1) return { value: value === undefined || value === '' ? reference.slice(dash + 2) : value };
  if (value === undefined) return { problem: `environment variable ${name} is not set; set it, or give a default: \${${name}:-value} (write $\${…} for a literal "\${")` };
  return { value };
}

function readSecretFile(path: string, sources: SubstitutionSources): { value: string } | { problem: string } {
  if (path === '') return { problem: '${file:…} needs a path: ${file:/run/secrets/db-password}' };
  const absolute = resolve(sources.baseDir, path);
  try {
    let content: string;
    if (sources.readFile !== undefined) content = sources.readFile(absolute);
    else {
      const stat = statSync(absolute);
      if (stat.isDirectory()) return { problem: `secret file ${absolute} is a directory` };
      if (stat.size > MAX_SECRET_FILE_BYTES) return { problem: `secret file ${absolute} is larger than ${MAX_SECRET_FILE_BYTES / 1024} KiB; is it the right file?` };
      content = readFileSync(absolute, 'utf8');
    }
    // Files written by `echo` or an editor end with a newline that is not part of the secret.
    return { value: content.replace(/\r?\n$/, '') };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'not readable (permission denied)' : 'cannot be read';
    return { problem: `secret file ${absolute} ${reason}` };
  }
}

/** The scalar as written in the file (quotes and escapes included), to find where each reference is. */
function sourceText(node: Scalar, text: string): string {
  const range = node.range;
  return range === undefined || range === null ? '' : text.slice(range[0], range[1]);
}

/** Offset in `source` of its `index`-th unescaped `${` (0, the scalar's start, when it cannot be found: escapes changed the text). */
function locateInSource(source: string, reference: string, index: number): number {
  let at = -1;
  let from = 0;
  for (let i = 0; i <= index; i++) {
    at = source.indexOf('${', from);
    while (at > 0 && source[at - 1] === '$') at = source.indexOf('${', at + 2);
    if (at === -1) return 0;
    from = at + 2;
  }
  return source.startsWith(reference.slice(0, 1), at + 2) ? at : 0;
}

/** The path of a scalar in the data (`routes.0.auth.jwt.secret`), from the ancestors `visit` gives. */
function pathOf(ancestors: readonly unknown[], node: Scalar): PathSegment[] {
  const path: PathSegment[] = [];
  const chain = [...ancestors, node];
  for (let i = 0; i < chain.length; i++) {
    const here = chain[i];
    const next = chain[i + 1];
    if (isPair(here)) {
      const key = (here as Pair).key;
      path.push(isScalar(key) ? String(key.value) : String(key));
    } else if (isSeq(here) && next !== undefined) {
      path.push(here.items.indexOf(next as never));
    } else if (isMap(here)) {
      continue;
    }
  }
  return path;
}

/**
 * The node at `path` in the document (aliases followed), or undefined: to ask whether the
 * value the validator complains about came from a reference.
 */
export function nodeAt(doc: Document.Parsed, path: readonly PathSegment[]): unknown {
  let node: unknown = doc.contents;
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) node = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(segment))?.value;
    else if (isSeq(node)) node = node.items[Number(segment)];
    else return undefined;
  }
  return isAlias(node) ? node.resolve(doc) : node;
}
