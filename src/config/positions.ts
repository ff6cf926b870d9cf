/**
 * YAML parsing that keeps positions, and the map from a path in the parsed value
 * (`routes.1.upstream`) back to a line and column in the file. Every problem the loader
 * reports goes through here, so that users are sent to the exact spot.
 */
import { Composer, LineCounter, Parser, YAMLParseError, isAlias, isMap, isScalar, isSeq, type CST, type Document } from './yaml.js';

/** One step in a path through the parsed configuration: a map key or a list index. */
export type PathSegment = string | number;

/** A 1-based line and column. */
export interface Position {
  readonly line: number;
  readonly column: number;
}

/** A problem found before it is given a position: a path and whether it is about the key or the value. */
export interface PathProblem {
  readonly path: readonly PathSegment[];
  readonly message: string;
  /** `key`: point at the key itself (unknown keys, bad names); `value` (default): at its value. */
  readonly at?: 'key' | 'value';
}

/** The parsed YAML document with what is needed to locate paths in it. */
export interface ParsedYaml {
  readonly doc: Document.Parsed;
  readonly locator: YamlLocator;
  /** Syntax errors with their positions, in file order. */
  readonly errors: ReadonlyArray<{ readonly position: Position; readonly message: string }>;
  readonly warnings: ReadonlyArray<{ readonly position: Position; readonly message: string }>;
}

/**
 * How deeply collections may nest. Real configurations stay under ten levels; the
 * limit exists because the YAML composer recurses once per level and, thousands of
 * levels down, V8 can abort the whole process (a fatal out-of-memory in its regexp
 * compiler when the stack is nearly exhausted) instead of throwing an error we could
 * catch. The CST parser is iterative, so depth is measured there, before composing.
 */
export const MAX_YAML_DEPTH = 64;

/**
 * Parses YAML text without throwing: syntax errors come back in `errors`.
 * Merge keys (`<<: *defaults`) are enabled because configuration files use them to
 * share blocks; duplicate keys are errors because the second would silently win.
 * This is `yaml`'s `parseDocument`, unrolled so that the nesting depth is checked
 * between parsing and composing.
 */
export function parseYaml(text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const tokens = [...new Parser(lineCounter.addNewLine).parse(text)];
  const tooDeep = deepestOffset(tokens);
  // logLevel 'error': yaml's warnings stay in doc.warnings instead of going to process.emitWarning.
  const composer = new Composer({ prettyErrors: false, merge: true, uniqueKeys: true, logLevel: 'error' });
  let doc: Document.Parsed | undefined;
  for (const next of composer.compose(tooDeep === undefined ? tokens : [], true, text.length)) {
    if (doc === undefined) doc = next;
    else {
      doc.errors.push(new YAMLParseError([next.range[0], next.range[1]], 'MULTIPLE_DOCS', 'the file holds more than one YAML document ("---"); keep one'));
      break;
    }
  }
  // compose(…, forceDoc = true) always yields a document, even for empty input.
  const parsed = doc as Document.Parsed;
  if (tooDeep !== undefined) {
    parsed.errors.push(new YAMLParseError([tooDeep, tooDeep + 1], 'IMPOSSIBLE', `collections nest more than ${MAX_YAML_DEPTH} levels deep`));
  }
  const locator = new YamlLocator(parsed, lineCounter);
  const convert = (list: ReadonlyArray<{ pos: [number, number]; message: string }>) =>
    list.map((e) => ({ position: locator.positionOf(e.pos[0]), message: oneLine(e.message) }));
  return { doc: parsed, locator, errors: convert(parsed.errors), warnings: convert(parsed.warnings) };
}

/** Offset of the first collection nested deeper than MAX_YAML_DEPTH, if any. Iterative on purpose. */
function deepestOffset(tokens: readonly CST.Token[]): number | undefined {
  const stack: Array<{ token: unknown; depth: number }> = tokens.map((token) => ({ token, depth: 0 }));
  while (stack.length > 0) {
    const { token, depth } = stack.pop() as { token: unknown; depth: number };
    if (token === null || typeof token !== 'object') continue;
    const t = token as { offset?: number; value?: unknown; items?: Array<{ key?: unknown; value?: unknown }> };
    if (Array.isArray(t.items)) {
      if (depth > MAX_YAML_DEPTH) return t.offset ?? 0;
      for (const item of t.items) stack.push({ token: item.key, depth: depth + 1 }, { token: item.value, depth: depth + 1 });
    }
    if (t.value !== null && typeof t.value === 'object') stack.push({ token: t.value, depth });
  }
  return undefined;
}

function oneLine(message: string): string {
  return message.split('\n')[0]?.trim() ?? message;
}

/** Maps paths in the parsed value back to positions in the YAML text. */
export class YamlLocator {
  readonly #doc: Document.Parsed;
  readonly #lines: LineCounter;

  constructor(doc: Document.Parsed, lines: LineCounter) {
    this.#doc = doc;
    this.#lines = lines;
  }

  /** 1-based line and column of a character offset. */
  positionOf(offset: number): Position {
    const { line, col } = this.#lines.linePos(Math.max(0, offset));
    // linePos reports line 0 before the first newline is known (a one-line file).
    return { line: Math.max(1, line), column: Math.max(1, col) };
  }

  /**
   * Position of the value at `path` (or of its key with `at: 'key'`). When the path
   * does not exist in full (a missing required key, a value from a merge key), the
   * deepest part of it that does exist is given: the best place to look.
   */
  locate(path: readonly PathSegment[], at: 'key' | 'value' = 'value'): Position {
    let node: unknown = this.#doc.contents;
    let best = startOf(node) ?? 0;
    let keyOffset: number | undefined;
    let complete = true;
    for (const segment of path) {
      if (isAlias(node)) node = node.resolve(this.#doc);
      keyOffset = undefined;
      if (isMap(node)) {
        const pair = node.items.find((p) => keyText(p.key) === String(segment));
        if (pair === undefined) {
          complete = false;
          break;
        }
        keyOffset = startOf(pair.key);
        node = pair.value;
      } else if (isSeq(node)) {
        node = node.items[Number(segment)];
        if (node === undefined) {
          complete = false;
          break;
        }
      } else {
        complete = false;
        break;
      }
      best = startOf(node) ?? keyOffset ?? best;
    }
    if (complete && at === 'key' && keyOffset !== undefined) best = keyOffset;
    return this.positionOf(best);
  }
}

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return String(key);
}

function startOf(node: unknown): number | undefined {
  if (node !== null && typeof node === 'object' && 'range' in node) {
    const range = (node as { range?: readonly number[] | null }).range;
    if (Array.isArray(range) && typeof range[0] === 'number') return range[0];
  }
  return undefined;
}
