import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { RotatingFile } from './log-file.js';

const dir = mkdtempSync(join(tmpdir(), 'brisk-logfile-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const settle = () => new Promise((r) => setTimeout(r, 50));

test('rotates by size, numbering newest first, and keeps every line', async () => {
  const file = join(dir, 'size.log');
  const f = new RotatingFile(file, { maxSize: 100, maxFiles: 50, daily: false });
  for (let i = 0; i < 40; i++) {
    f.write(`line ${String(i).padStart(3, '0')} ${'x'.repeat(30)}\n`);
    await settle();
  }
  f.flushSync();
  await f.close();
  const files = readdirSync(dir).filter((n) => n.startsWith('size.log'));
  assert.ok(files.length >= 10, files.join(','));
  const all = files.flatMap((n) => readFileSync(join(dir, n), 'utf8').split('\n').filter(Boolean));
  assert.equal(all.length, 40);
  assert.equal(new Set(all).size, 40);
  // size.log.1 holds newer lines than size.log.2.
  const first = (n: string) => Number(readFileSync(join(dir, n), 'utf8').slice(5, 8));
  assert.ok(first('size.log.1') > first('size.log.2'));
});

test('rotates at midnight UTC when daily', async () => {
  const file = join(dir, 'daily.log');
  const f = new RotatingFile(file, { maxSize: 0, maxFiles: 5, daily: true });
  f.write('yesterday\n');
  await settle();
  // Pretend the day is over.
  (f as unknown as { nextMidnight: number }).nextMidnight = Date.now() - 1;
  f.write('today\n');
  await settle();
  f.write('still today\n');
  f.flushSync();
  await f.close();
  const rotated = readFileSync(`${file}.1`, 'utf8');
  const current = readFileSync(file, 'utf8');
  assert.equal(rotated + current, 'yesterday\ntoday\nstill today\n');
  assert.ok(!readdirSync(dir).includes('daily.log.2'));
  assert.ok((f as unknown as { nextMidnight: number }).nextMidnight > Date.now());
});
