/**
 * A document from the config store combined with the file: the store's `routes`,
 * `upstreams` and `defaults` replace the file's, everything else stays the file's, and
 * the result goes through the one loader (`parseConfigText`), so a bad revision gets
 * exactly the messages a bad file gets. Problems inside the store document are placed
 * at `etcd:KEY@REVISION:LINE:COL`: the store text comes first in the combined text, so
 * its lines keep their numbers.
 */
import { isMap, parseDocument } from '../../config/yaml.js';
import { parseConfigText, type ConfigResult } from '../../config/load.js';
import type { ConfigProblem } from '../../config/types.js';
import { STORE_KEYS } from './schema.js';

/** A document as read from the store. */
export interface StoreDocument {
  readonly text: string;
  /** etcd's mod_revision of the key. */
  readonly revision: number;
  /** Where it was read: etcd, or the snapshot on disk. */
  readonly from: 'etcd' | 'snapshot';
}

/** How a store document is named in messages: `etcd:/brisk/config@42`. */
export function documentLabel(key: string, revision: number): string {
  return `etcd:${key}@${revision}`;
}

/**
 * Problems of the store document's shape alone (top-level keys), placed in it; [] when
 * it may be combined.
 */
export function shapeProblems(text: string, label: string): ConfigProblem[] {
  const doc = parseDocument(text, { keepSourceTokens: false });
  if (doc.errors.length > 0) {
    return doc.errors.map((e) => ({ file: label, line: e.linePos?.[0]?.line ?? 1, column: e.linePos?.[0]?.col ?? 1, path: '', message: `invalid YAML: ${e.message.split('\n')[0]}` }));
  }
  const at = (offset: number | undefined) => {
    const pos = offset === undefined ? { line: 1, col: 1 } : lineCol(text, offset);
    return { file: label, line: pos.line, column: pos.col };
  };
  if (!isMap(doc.contents)) return [{ ...at(0), path: '', message: `a config store document is a mapping of ${STORE_KEYS.join(', ')}` }];
  if (doc.contents.flow) return [{ ...at(doc.contents.range?.[0]), path: '', message: 'write the config store document in block style (one key per line), not as a {…} flow mapping' }];
  const problems: ConfigProblem[] = [];
  for (const pair of doc.contents.items) {
    const key = String((pair.key as { value?: unknown } | null)?.value ?? pair.key);
    if ((STORE_KEYS as readonly string[]).includes(key) || key.startsWith('x-')) continue;
    problems.push({
      ...at((pair.key as { range?: [number, number, number] } | null)?.range?.[0]),
      path: key,
      message: `${JSON.stringify(key)} cannot come from the config store: it holds ${STORE_KEYS.join(', ')}; listeners, admin, logging and the rest stay in the file on each node`,
    });
  }
  return problems;
}

/** The keys the store document sets (those it replaces in the file). */
function storeKeys(text: string): Set<string> {
  const doc = parseDocument(text);
  const keys = new Set<string>();
  if (isMap(doc.contents)) for (const pair of doc.contents.items) keys.add(String((pair.key as { value?: unknown } | null)?.value ?? pair.key));
  return keys;
}

/**
 * Loads the combination of `fileText` (read from `file`) and a store document. Never
 * throws. `label` names the document in problems (default `etcd:KEY@REVISION`). Problems in the file's part have the file's name and no position (the file
 * itself was checked on its own first).
 */
export function combine(file: string, fileText: string, doc: StoreDocument, key: string, label = documentLabel(key, doc.revision)): ConfigResult {
  const shape = shapeProblems(doc.text, label);
  if (shape.length > 0) return { ok: false, problems: shape };
  const replaced = storeKeys(doc.text);
  const fileDoc = parseDocument(fileText);
  if (isMap(fileDoc.contents)) fileDoc.contents.items = fileDoc.contents.items.filter((p) => !replaced.has(String((p.key as { value?: unknown } | null)?.value ?? p.key)));
  const storeText = doc.text.endsWith('\n') ? doc.text : `${doc.text}\n`;
  const storeLines = storeText.split('\n').length - 1;
  const result = parseConfigText(`${storeText}${fileDoc.toString()}`, file);
  const relabel = (p: ConfigProblem): ConfigProblem => (p.line <= storeLines && p.line > 0 ? { ...p, file: label } : { ...p, line: 0, column: 0 });
  return result.ok ? { ...result, warnings: result.warnings.map(relabel) } : { ok: false, problems: result.problems.map(relabel) };
}

function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, col: offset - last };
}
