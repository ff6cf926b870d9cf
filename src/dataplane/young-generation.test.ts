import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { youngGenerationChosen } from './young-generation.js';

/** Runs a child that allocates hard for a while, keeping a working set; returns the largest new space it saw (MB) and what the cap said. */
function churn(cap: string, execArgv: string[] = []): { maxNewSpaceMb: number; capped: boolean } {
  const module = new URL('./young-generation.js', import.meta.url).href;
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    const { capYoungGeneration } = await import(${JSON.stringify(module)});
    const capped = ${cap === '' ? 'false' : `capYoungGeneration(${cap})`};
    let max = 0, keep = [];
    const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
    // Turns of the event loop, so that the GC observer runs between scavenges as in a server.
    for (let turn = 0; turn < 400; turn++) {
      for (let i = 0; i < 5000; i++) keep.push({ i, s: 'x' + i, a: [i] });
      if (keep.length > 20000) keep = [];
      max = Math.max(max, newSpace());
      await new Promise((r) => setImmediate(r));
    }
    process.stdout.write(JSON.stringify({ maxNewSpaceMb: max / 1048576, capped }));`;
  const child = spawnSync(process.execPath, [...execArgv, '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout) as { maxNewSpaceMb: number; capped: boolean };
}

describe('the young generation cap', () => {
  test('under allocation the new space grows past the cap without it, and stays within one growth step of it with it', () => {
    const free = churn('');
    assert.ok(free.maxNewSpaceMb > 8, `without a cap the new space grew to ${free.maxNewSpaceMb} MB (this churn must make it grow)`);
    const capped = churn('2');
    assert.equal(capped.capped, true);
    // Two semi-spaces of 2 MB; one doubling may land before the observer runs.
    assert.ok(capped.maxNewSpaceMb <= 8, `capped at 2 MB per semi-space, the new space reached ${capped.maxNewSpaceMb} MB`);
  });

  test("an operator's own young generation flags win", () => {
    assert.equal(churn('2', ['--max-semi-space-size=4']).capped, false);
    assert.equal(youngGenerationChosen(['--max-semi-space-size=32'], ''), true);
    assert.equal(youngGenerationChosen([], '--enable-source-maps --semi-space-growth-factor=4'), true);
    assert.equal(youngGenerationChosen(['--enable-source-maps'], '--max-old-space-size=512'), false);
  });
});
