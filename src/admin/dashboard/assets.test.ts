import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AssetStore, findAssetDir } from './assets.js';

test('the compiled server finds the page in the source tree', () => {
  const dir = findAssetDir();
  for (const name of ['index.html', 'app.js', 'chart.js', 'format.js', 'dashboard.css', 'icon.svg']) assert.ok(existsSync(join(dir, name)), `${name} in ${dir}`);
});

test('only known file types directly in the folder are served, with a content hash as ETag', () => {
  const dir = mkdtempSync(join(tmpdir(), 'brisk-assets-'));
  try {
    writeFileSync(join(dir, 'a.js'), 'export {};');
    writeFileSync(join(dir, 'b.css'), 'body{}');
    writeFileSync(join(dir, 'secret.env'), 'TOKEN=1');
    mkdirSync(join(dir, 'sub.js'));
    const store = new AssetStore(() => dir);
    assert.equal(store.get('a.js')?.contentType, 'text/javascript; charset=utf-8');
    assert.equal(store.get('b.css')?.contentType, 'text/css; charset=utf-8');
    assert.equal(store.get('secret.env'), undefined);
    assert.equal(store.get('sub.js'), undefined);
    assert.equal(store.get('../a.js'), undefined);
    assert.match(store.get('a.js')!.etag, /^"[\w-]{27}"$/);
    assert.notEqual(store.get('a.js')!.etag, store.get('b.css')!.etag);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
