import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dagShape, DagRun, findCycle, topologicalOrder } from './scheduler.js';

/** A run whose nodes finish when the test says; records what happened in order. */
function harness(deps: number[][]) {
  const log: string[] = [];
  let finished = false;
  const run = new DagRun(dagShape(deps), {
    start: (i) => log.push(`start ${i}`),
    skip: (i, failed) => log.push(`skip ${i} (${failed})`),
    finished: () => {
      finished = true;
      log.push('finished');
    },
  });
  return { run, log, isFinished: () => finished };
}

describe('DAG scheduler', () => {
  it('starts every root at once, and a dependent as soon as its last dependency is done', () => {
    // 0 and 1 are roots; 2 needs 0; 3 needs 0 and 1.
    const h = harness([[], [], [0], [0, 1]]);
    h.run.begin();
    assert.deepEqual(h.log, ['start 0', 'start 1']);
    h.run.done(0, true);
    assert.deepEqual(h.log.slice(2), ['start 2'], '3 still waits for 1');
    h.run.done(1, true);
    assert.deepEqual(h.log.slice(3), ['start 3']);
    h.run.done(3, true);
    assert.equal(h.isFinished(), false);
    h.run.done(2, true);
    assert.equal(h.isFinished(), true);
  });

  it('skips everything downstream of a failed node, transitively, and still finishes', () => {
    const h = harness([[], [0], [1], []]);
    h.run.begin();
    h.run.done(0, false);
    assert.deepEqual(h.log, ['start 0', 'start 3', 'skip 1 (0)', 'skip 2 (1)']);
    h.run.done(3, true);
    assert.equal(h.isFinished(), true);
  });

  it('a node that finishes synchronously inside start still drives the run', () => {
    const order: number[] = [];
    let run!: DagRun;
    let finished = false;
    run = new DagRun(dagShape([[], [0], [1]]), {
      start: (i) => {
        order.push(i);
        run.done(i, true);
      },
      skip: () => assert.fail('nothing fails'),
      finished: () => (finished = true),
    });
    run.begin();
    assert.deepEqual(order, [0, 1, 2]);
    assert.ok(finished);
  });

  it('stop() starts nothing more and never reports finished', () => {
    const h = harness([[], [0]]);
    h.run.begin();
    h.run.stop();
    h.run.done(0, true);
    assert.deepEqual(h.log, ['start 0']);
  });

  it('an empty graph finishes at once; done twice counts once', () => {
    const e = harness([]);
    e.run.begin();
    assert.ok(e.isFinished());
    const h = harness([[], []]);
    h.run.begin();
    h.run.done(0, true);
    h.run.done(0, true);
    assert.equal(h.isFinished(), false);
  });

  it('finds cycles and orders nodes after their dependencies', () => {
    const deps = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', []],
    ]);
    assert.deepEqual(findCycle(['d', 'a', 'b', 'c'], deps), ['a', 'b', 'c', 'a']);
    assert.equal(findCycle(['a', 'b'], new Map([['a', ['b']], ['b', []]])), null);
    assert.deepEqual(findCycle(['a'], new Map([['a', ['a']]])), ['a', 'a']);
    assert.deepEqual(topologicalOrder(['user', 'order', 'x'], new Map([['user', ['order']], ['order', []], ['x', ['user']]])), ['order', 'user', 'x']);
  });
});
