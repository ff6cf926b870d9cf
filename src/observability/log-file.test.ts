import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { RotatingFile } from './log-file.js';

const dir = mkdtempSync(join(tmpdir(), 'brisk-logfile-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The files of a log, oldest first: FILE.N … FILE.1, FILE. */
function oldestFirst(base: string): string[] {
  const name = base.split('/').pop()!;
  const rotated = readdirSync(dir)
    .filter((n) => n.startsWith(`${name}.`))
    .map((n) => Number(n.slice(name.length + 1)))
    .sort((a, b) => b - a)
    .map((i) => `${base}.${i}`);
  return existsSync(base) ? [...rotated, base] : rotated;
}

test('rotates by size: every line kept, in order, no rotated file empty', async () => {
  const file = join(dir, 'size.log');
  const f = new RotatingFile(file, { maxSize: 200, maxFiles: 100, daily: false });
  const state = f as unknown as { rotating: boolean; reopening: boolean };
  const idle = () => until(() => !state.rotating && !state.reopening, 'the rotation to finish');
  const line = (i: number) => `line ${String(i).padStart(3, '0')} ${'x'.repeat(30)}\n`;
  // One at a time: each rotation finishes before the next line.
  for (let i = 0; i < 30; i++) {
    f.write(line(i));
    await idle();
  }
  // Then a burst: lines keep coming while rotations wait for the buffer to drain.
  for (let i = 30; i < 60; i++) f.write(line(i));
  await idle();
  f.flushSync();
  await f.close();
  const files = oldestFirst(file);
  assert.ok(files.length >= 5, files.join(','));
  const contents = files.map((n) => readFileSync(n, 'utf8'));
  for (const [i, c] of contents.slice(0, -1).entries()) assert.ok(c.length > 0, `${files[i]} is empty`);
  const all = contents.join('').split('\n').filter(Boolean);
  assert.deepEqual(
    all.map((l) => Number(l.slice(5, 8))),
    Array.from({ length: 60 }, (_, i) => i),
    'every line once, oldest file first',
  );
});

test('rotates at midnight UTC when daily', async () => {
  const file = join(dir, 'daily.log');
  const f = new RotatingFile(file, { maxSize: 0, maxFiles: 5, daily: true });
  f.write('yesterday\n');
  // Pretend the day is over.
  (f as unknown as { nextMidnight: number }).nextMidnight = Date.now() - 1;
  f.write('last of yesterday\n');
  await until(() => existsSync(`${file}.1`) && existsSync(file), 'the rotation');
  f.write('today\n');
  f.flushSync();
  await f.close();
  assert.equal(readFileSync(`${file}.1`, 'utf8'), 'yesterday\nlast of yesterday\n');
  assert.equal(readFileSync(file, 'utf8'), 'today\n');
  assert.ok(!existsSync(`${file}.2`));
  assert.ok((f as unknown as { nextMidnight: number }).nextMidnight > Date.now());
});
