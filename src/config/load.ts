/**
 * The configuration loader: YAML text in, a frozen `Config` or a list of problems out,
 * each problem with file, line, column and the path of the key at fault. It never
 * throws for bad input: `brisk check`, start-up and reload all want the full list.
 *
 * Steps: parse YAML (positions kept) → validate against the JSON Schema (readable
 * messages) → semantic checks and normalisation (see normalize.ts) → freeze.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { compileRouter } from '../router/index.js';
import { didYouMean } from './did-you-mean.js';
import { MISSING_UPSTREAM } from '../router/config/normalize.js';
import { normalise } from './normalize.js';
import { parseYaml, type PathProblem, type Position, type YamlLocator } from './positions.js';
import type { Config, ConfigProblem } from './types.js';
import { nodeAt, substituteReferences, type SubstitutionResult } from './substitute.js';
import { validateSchema } from './validate.js';

export { redactConfig } from './redact.js';

/** What a check may be given instead of the process's own. */
export interface LoadOptions {
  /** The environment `${VAR}` reads; `process.env` when absent. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** The outcome of loading a configuration: the configuration and its warnings, or every problem found. */
export type ConfigResult =
  | { ok: true; config: Config; warnings: ConfigProblem[] }
  | { ok: false; problems: ConfigProblem[] };

/**
 * Reads and checks a configuration file. Never rejects: a missing or unreadable file
 * is reported as a problem at 1:1.
 *
 * @example
 * const result = await loadConfig('brisk.yaml');
 * if (!result.ok) for (const p of result.problems) console.error(formatProblem(p));
 */
export async function loadConfig(file: string): Promise<ConfigResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory, not a file' : (error as Error).message;
    return { ok: false, problems: [{ file, line: 1, column: 1, path: '', message: `cannot read the configuration file: ${reason}` }] };
  }
  return parseConfigText(text, file);
}

/**
 * Checks configuration text as if read from `file` (used in messages, for
 * `Config.source`, and to resolve relative TLS paths; pass '' for text that is not from
 * a file, and relative paths resolve against the working directory). Never throws.
 *
 * @example
 * const result = parseConfigText('listen: [{address: "127.0.0.1:0"}]\nupstreams: {}\nroutes: []\n', 'inline.yaml');
 * result.ok // true
 */
export function parseConfigText(text: string, file: string, options: LoadOptions = {}): ConfigResult {
  try {
    return check(text, file, options);
  } catch (error) {
    // A bug in the checks must not take the caller down (a reload would kill a serving
    // gateway); reporting it keeps the old configuration in place.
    const message = `internal error while checking the configuration: ${(error as Error)?.message ?? String(error)}`;
    return { ok: false, problems: [{ file, line: 1, column: 1, path: '', message }] };
  }
}

function check(text: string, file: string, sources: LoadOptions): ConfigResult {
  // A byte order mark is invisible in editors; it is not part of the YAML.
  const { doc, locator, errors, warnings: yamlWarnings } = parseYaml(text.replace(/^\uFEFF/, ''));
  if (errors.length > 0) {
    return { ok: false, problems: sortProblems(errors.map((e) => ({ file, ...e.position, path: '', message: `invalid YAML: ${e.message}` }))) };
  }
  const yamlWarningProblems = yamlWarnings.map((w) => ({ file, ...w.position, path: '', message: w.message }));
  if (doc.contents === null || (doc.contents as { value?: unknown }).value === null) {
    return { ok: false, problems: [{ file, line: 1, column: 1, path: '', message: 'the configuration file is empty; it needs at least listen, upstreams and routes' }] };
  }
  const source = file === '' ? '' : resolve(file);
  const baseDir = source === '' ? process.cwd() : dirname(source);
  // `${VAR}`, `${VAR:-default}`, `${file:PATH}` in values (substitute.ts), before anything reads them.
  const references = substituteReferences(doc, text, { env: sources.env ?? process.env, baseDir });
  if (references.problems.length > 0) {
    return { ok: false, problems: sortProblems(references.problems.map((p) => ({ file, ...locator.positionOf(p.offset), path: p.path.join('.'), message: p.message }))) };
  }
  let data: unknown;
  try {
    // maxAliasCount bounds alias expansion ("billion laughs").
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    return { ok: false, problems: [{ file, line: 1, column: 1, path: '', message: `invalid YAML: ${(error as Error).message}` }] };
  }
  const hide = (problems: ConfigProblem[]) => hideValues(problems, references.values);
  const schema = validateSchema(data, references.substituted.size === 0 ? undefined : (path) => references.substituted.has(nodeAt(doc, path) as never));
  // Broken references are reported along with schema problems, so one run shows both.
  if (!schema.ok) return { ok: false, problems: hide(place([...schema.problems, ...referenceProblems(data)], file, locator)) };
  const result = normalise(schema.raw, { source, baseDir });
  const warnings = hide(sortProblems([...yamlWarningProblems, ...place(result.warnings, file, locator)]));
  if (result.config === undefined) return { ok: false, problems: hide(place(result.problems, file, locator)) };
  const routeProblems = compileProblems(result.config);
  if (routeProblems.length > 0) return { ok: false, problems: hide(place(routeProblems, file, locator)) };
  return { ok: true, config: result.config, warnings };
}

/**
 * Problems that quote a value (`got "…"`) must not show one that came from the
 * environment or a secret file: it is named by its reference instead (`${DB_PASSWORD}`).
 * Values shorter than 4 characters are left: they are no secret, and replacing them
 * would garble messages.
 */
function hideValues(problems: ConfigProblem[], values: SubstitutionResult['values']): ConfigProblem[] {
  const hidden = values.filter((v) => v.value.length >= 4);
  if (hidden.length === 0) return problems;
  return problems.map((p) => {
    let message = p.message;
    for (const v of hidden) {
      message = message.split(JSON.stringify(v.value.length > 60 ? `${v.value.slice(0, 57)}...` : v.value)).join(`the value of ${v.label}`);
      message = message.split(v.value).join(`the value of ${v.label}`);
    }
    return message === p.message ? p : { ...p, message };
  });
}

/**
 * Routes named by `routes[].upstream` that no upstream has, found on the raw data, for a
 * file that failed the schema (the normaliser, which reports them otherwise, never runs).
 */
function referenceProblems(data: unknown): PathProblem[] {
  const problems: PathProblem[] = [];
  if (typeof data !== 'object' || data === null) return problems;
  const { upstreams, routes } = data as { upstreams?: unknown; routes?: unknown };
  if (typeof upstreams !== 'object' || upstreams === null || !Array.isArray(routes)) return problems;
  const names = Object.keys(upstreams);
  routes.forEach((route: unknown, i) => {
    const name = (route as { upstream?: unknown } | null)?.upstream;
    if (typeof route === 'object' && route !== null && name === undefined && !('aggregate' in route) && !('redirect' in route)) problems.push({ path: ['routes', i, 'upstream'], message: MISSING_UPSTREAM });
    if (typeof name === 'string' && !Object.hasOwn(upstreams, name)) {
      problems.push({ path: ['routes', i, 'upstream'], message: `unknown upstream ${JSON.stringify(name)}${didYouMean(name, names)}`, at: 'value' });
    }
  });
  return problems;
}

/** What the router refuses (path patterns, template placeholders), placed at the route. */
function compileProblems(config: Config): PathProblem[] {
  const problems: PathProblem[] = [];
  for (const route of config.routes) {
    try {
      compileRouter([route]);
    } catch (error) {
      problems.push({ path: ['routes', route.index, 'match'], message: (error as Error).message, at: 'key' });
    }
  }
  return problems;
}

/** Gives path problems their positions, drops exact duplicates and sorts them. */
function place(problems: readonly PathProblem[], file: string, locator: YamlLocator): ConfigProblem[] {
  const seen = new Set<string>();
  const placed: ConfigProblem[] = [];
  for (const p of problems) {
    const position: Position = locator.locate(p.path, p.at ?? 'value');
    const problem: ConfigProblem = { file, line: position.line, column: position.column, path: p.path.join('.'), message: p.message };
    const key = `${problem.line}:${problem.column}:${problem.path}:${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    placed.push(problem);
  }
  return sortProblems(placed);
}

/** By line, then column, then path and message, so that output is the same on every run. */
function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems.sort((a, b) => a.line - b.line || a.column - b.column || cmp(a.path, b.path) || cmp(a.message, b.message));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * One problem as one line: `FILE:LINE:COL  path.to.key  message` (two spaces between
 * fields; `(root)` for the top of the file). The shape editors and CI annotations parse.
 *
 * @example
 * formatProblem(p) // 'brisk.yaml:12:15  routes.1.upstream  unknown upstream "prodcts"; did you mean "products"?'
 */
export function formatProblem(problem: ConfigProblem): string {
  const file = problem.file === '' ? '<config>' : problem.file;
  return `${file}:${problem.line}:${problem.column}  ${problem.path === '' ? '(root)' : problem.path}  ${problem.message}`;
}
