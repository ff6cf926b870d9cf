/**
 * The short form of `npm run proof:supervisor` (issue 13): Brisk with a supervised service
 * under an open-loop load, one fault after the other, each judged against its bar —
 * SIGKILL and SIGSTOP cost no client a request, a slow instance is restarted by the latency
 * rule alone, a rolling restart fails nothing, a load step is met by scaling out and
 * undone by scaling in, a crash loop is given up with an alert, and Brisk's shutdown stops
 * every instance. About a minute and a half.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runProofJson } from './helpers/proof-run.js';

const RUN = fileURLToPath(new URL('../../proofs/supervisor/run.mjs', import.meta.url));

interface Row {
  id: number;
  name: string;
  pass: boolean;
  observed: string;
  clientErrors: number;
  requests: number;
  errorKinds?: Record<string, number>;
}

describe('proof:supervisor --quick', () => {
  it('meets every bar of the issue', { timeout: 280_000 }, async () => {
    const { result, progress: err, code } = await runProofJson<{ pass: boolean; brisk: { rows: Row[] } }>(RUN);
    const rows = result.brisk.rows;
    assert.deepEqual(rows.map((r) => r.id), [1, 2, 3, 4, 5, 6, 7], 'every scenario ran');
    const missed = rows.filter((r) => !r.pass).map((r) => `${r.id} ${r.name}: ${r.observed}; ${r.clientErrors}/${r.requests} client errors ${JSON.stringify(r.errorKinds ?? {})}`);
    assert.deepEqual(missed, [], `bars missed:\n${missed.join('\n')}\n\nprogress:\n${err}`);
    assert.ok(rows.slice(0, 6).every((r) => r.requests > 100), 'every scenario ran under load');
    assert.equal(code, 0);
  });
});
