import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runPipeline, type Answer, type Middleware, type RequestContext } from './middleware.js';

const ctx = {} as RequestContext;
const pass = (log: string[], name: string): Middleware => ({ name, handle: () => (log.push(name), null) });
const passAsync = (log: string[], name: string): Middleware => ({ name, handle: async () => (log.push(name), null) });
const refuse = (log: string[], name: string, answer: Answer): Middleware => ({ name, handle: () => (log.push(name), answer) });

test('a synchronous pipeline returns synchronously, in order', () => {
  const log: string[] = [];
  assert.equal(runPipeline([pass(log, 'a'), pass(log, 'b')], ctx), null);
  assert.deepEqual(log, ['a', 'b']);
});

test('the first answer stops the pipeline', () => {
  const log: string[] = [];
  const answer: Answer = { status: 429, code: 'BRISK_INTERNAL' };
  assert.equal(runPipeline([pass(log, 'a'), refuse(log, 'b', answer), pass(log, 'c')], ctx), answer);
  assert.deepEqual(log, ['a', 'b']);
});

test('an asynchronous middleware makes the rest asynchronous, order kept', async () => {
  const log: string[] = [];
  const answer: Answer = { status: 204 };
  const result = runPipeline([pass(log, 'a'), passAsync(log, 'b'), pass(log, 'c'), refuse(log, 'd', answer), pass(log, 'e')], ctx);
  assert.ok(result instanceof Promise);
  assert.equal(await result, answer);
  assert.deepEqual(log, ['a', 'b', 'c', 'd']);
});
