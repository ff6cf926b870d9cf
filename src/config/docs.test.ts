import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ERROR_CODES } from '../core/errors.js';
import { EXAMPLE_CONFIG, configurationMarkdown, errorsMarkdown } from './docs.js';
import { formatProblem, parseConfigText } from './load.js';
import { MIDDLEWARES } from '../middlewares/registry.js';
import { ConfigSchema } from './schema.js';

/** The repository root: the nearest directory up with package.json (tests run from dist/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    assert.notEqual(parent, dir, 'package.json not found above the test');
    dir = parent;
  }
  return dir;
}

const HOW_TO_FIX = 'out of date: run "npm run build && node scripts/gen-docs.mjs" and commit the result';

test('docs/configuration.md matches the schema', () => {
  const onDisk = readFileSync(join(repoRoot(), 'docs', 'configuration.md'), 'utf8');
  assert.ok(onDisk === configurationMarkdown(), `docs/configuration.md is ${HOW_TO_FIX}`);
});

test('docs/errors.md matches the error code registry', () => {
  const onDisk = readFileSync(join(repoRoot(), 'docs', 'errors.md'), 'utf8');
  assert.ok(onDisk === errorsMarkdown(), `docs/errors.md is ${HOW_TO_FIX}`);
});

test('every error code is documented with its status', () => {
  const md = errorsMarkdown();
  for (const [code, { status, description }] of Object.entries(ERROR_CODES)) {
    const row = md.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
    assert.ok(row !== undefined, `${code} is missing from docs/errors.md`);
    assert.ok(row.includes(description), `${code}: description`);
    if (status !== 0) assert.ok(row.includes(` ${status} `), `${code}: status ${status}`);
  }
});

test('every key of the schema has a row in the reference', () => {
  const md = configurationMarkdown();
  const keys = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node === null || typeof node !== 'object') return;
    const properties = (node as { properties?: Record<string, unknown> }).properties;
    if (properties !== undefined) for (const key of Object.keys(properties)) keys.add(key);
    Object.values(node).forEach(walk);
  };
  walk(ConfigSchema);
  assert.ok(keys.size > 40, 'the walk found the keys');
  for (const key of keys) assert.match(md, new RegExp(`^\\| \`${key}\` \\|`, 'm'), `no row for ${key}`);
  // Defaults are shown as written in the schema.
  assert.match(md, /^\| `maxHeaderSize` \| \[size\]\(#units\) \| `16kb` \|/m);
  assert.match(md, /^\| `balancer` \| one of `p2c-ewma`, `round-robin`, `weighted-round-robin`, `least-connections`, `random`, `consistent-hash` \| `p2c-ewma` \|/m);
});

test('the example in the reference is a valid configuration', () => {
  const result = parseConfigText(EXAMPLE_CONFIG, 'example.yaml');
  assert.ok(result.ok, result.ok ? '' : result.problems.map(formatProblem).join('\n'));
  assert.deepEqual(result.warnings, []);
  assert.ok(configurationMarkdown().includes(EXAMPLE_CONFIG.trimEnd()));
});

test('every registered middleware is documented under routes[] in docs/configuration.md', () => {
  const onDisk = readFileSync(join(repoRoot(), 'docs', 'configuration.md'), 'utf8');
  const section = (path: string): string | undefined => {
    const start = onDisk.indexOf(`\n## \`${path}\`\n`);
    if (start === -1) return undefined;
    const end = onDisk.indexOf('\n## ', start + 1);
    return onDisk.slice(start, end === -1 ? undefined : end);
  };
  const routes = section('routes[]');
  assert.ok(routes !== undefined, 'docs/configuration.md has a routes[] section');
  assert.ok(MIDDLEWARES.length >= 6);
  for (const d of MIDDLEWARES) {
    const row = routes.split('\n').find((line) => line.startsWith(`| \`${d.key}\` |`));
    assert.ok(row !== undefined, `route key ${d.key} (src/middlewares/registry.ts) has no row under routes[] in docs/configuration.md`);
    const description = String((d.schema as { description?: unknown }).description ?? '');
    assert.ok(description !== '', `${d.key}: its schema has a description`);
    assert.ok(row.includes(description.slice(0, 40).replace(/\|/g, '\\|')), `${d.key}: the row shows the schema's description`);
    if ((d.schema as { type?: unknown }).type === 'object') assert.ok(section(`routes[].${d.key}`) !== undefined, `${d.key}: has its own section`);
  }
});
