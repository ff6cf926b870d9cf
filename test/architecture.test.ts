/**
 * The layering of src/ (docs/architecture.md, "Layers"), checked on the source: no import
 * circle of any size (type imports count: a type circle still ties layers together), and
 * no import from a lower layer into a higher one. A failure names the files and the fix.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = join(ROOT, 'src');

/**
 * Layers from the bottom. A file may import files of its own layer or of lower ones.
 * The first rule that matches a path (relative to src/) decides; keep this table and the
 * one in docs/architecture.md the same.
 */
const LAYERS: readonly (readonly [layer: number, name: string, test: (path: string) => boolean])[] = [
  [0, 'contracts', (p) => p.startsWith('core/')],
  // The config model: the normalised types and each feature's schema, normaliser and
  // middleware descriptor, which the loader assembles. They live next to their feature
  // (`upstreams/config/`, `router/config/`, `middlewares/*/schema.ts`, `descriptor.ts`).
  [1, 'config model', (p) => CONFIG_MODEL.test(p)],
  [2, 'observability', (p) => p.startsWith('observability/')],
  [3, 'routing, upstreams, listeners', (p) => /^(router|upstreams|listeners)\//.test(p)],
  [3, 'store clients', (p) => /^(redis|etcd)\//.test(p)],
  [4, 'middlewares', (p) => p.startsWith('middlewares/')],
  [5, 'aggregate', (p) => p.startsWith('aggregate/')],
  [6, 'proxy', (p) => p.startsWith('proxy/')],
  [7, 'config loader', (p) => p.startsWith('config/')],
  [8, 'data plane', (p) => p.startsWith('dataplane/')],
  [9, 'control plane', (p) => /^(control|admin|alerting|providers|supervisor|workers)\//.test(p)],
  [10, 'gateway', (p) => p.startsWith('gateway/')],
  [11, 'cli', (p) => p.startsWith('cli/')],
];

const CONFIG_MODEL =
  /^config\/(types|type-builder|yaml|schema-kit|normalize-kit|units|positions|addresses|did-you-mean|redact)\.ts$|^[a-z-]+\/(.+\/)?config\/|(^|\/|-)(schema|descriptor)\.ts$|^middlewares\/registry\.ts$|^middlewares\/[a-z-]+\/normalize\.ts$/;

function layerOf(path: string): { layer: number; name: string } {
  for (const [layer, name, test] of LAYERS) if (test(path)) return { layer, name };
  throw new Error(`src/${path} belongs to no layer: add its folder to LAYERS in test/architecture.test.ts and to docs/architecture.md`);
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'public' && e.name !== 'node_modules') sourceFiles(p, out);
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Static imports and re-exports, type-only ones included; dynamic `import()` is a deliberate late edge. */
const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'"`;]*?\s+from\s+)?['"](\.[^'"]+)['"]/g;

function importGraph(): Map<string, string[]> {
  const files = sourceFiles(SRC);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets: string[] = [];
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = resolve(dirname(file), m[1]!).replace(/\.js$/, '.ts');
      if (known.has(target) && target !== file) targets.push(target);
    }
    graph.set(file, targets);
  }
  return graph;
}

/** Strongly connected components with more than one file (Tarjan). */
function circles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('the layering of src/', () => {
  const graph = importGraph();
  const rel = (f: string) => relative(SRC, f).split('\\').join('/');

  test('has no import circle (type imports count)', () => {
    const found = circles(graph).map((c) => c.map(rel).sort().join(' → '));
    assert.deepEqual(found, [], `import circles:\n${found.join('\n')}\nMove the shared contract below both files (src/core/ or the lowest folder that owns it).`);
  });

  test('imports only from its own layer or lower ones', () => {
    const violations: string[] = [];
    for (const [file, targets] of graph) {
      const from = layerOf(rel(file));
      for (const target of targets) {
        const to = layerOf(rel(target));
        // A feature's schema module may use its own folder's parsers (templates, expressions, DAG shapes).
        if (from.layer === 1 && dirname(target) === dirname(file)) continue;
        if (to.layer > from.layer) violations.push(`src/${rel(file)} (${from.name}) imports src/${rel(target)} (${to.name})`);
      }
    }
    assert.deepEqual(violations, [], `upward imports:\n${violations.join('\n')}\nMove the contract down, or pass the higher layer's object in through an interface the lower layer owns.`);
  });

  test('every file belongs to a layer, and the check sees the request path', () => {
    for (const file of graph.keys()) layerOf(rel(file));
    const files = [...graph.keys()].map(rel);
    for (const expected of ['core/middleware.ts', 'proxy/forward.ts', 'upstreams/upstream.ts', 'dataplane/data-plane.ts', 'control/control-plane.ts', 'gateway/gateway.ts']) assert.ok(files.includes(expected), `${expected} is scanned`);
  });
});
