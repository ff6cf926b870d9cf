/**
 * The short form of `npm run proof:multinode` (issue 17): three Brisk nodes, Redis with
 * Sentinel, etcd and registered service instances on loopback; a node killed, etcd down,
 * instances joining and leaving, the Redis primary failing over — every bar met. About
 * two minutes; runs alone (it loads the machine).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runProofJson } from './helpers/proof-run.js';
import { findEtcd } from './helpers/etcd.js';
import { findRedisServer } from './helpers/servers.js';

const RUN = fileURLToPath(new URL('../../proofs/multinode/run.mjs', import.meta.url));

interface Row {
  id: number;
  name: string;
  pass: boolean;
  observed: string;
  errors: number;
  requests: number;
}

describe('proof:multinode --quick', () => {
  const missing = findRedisServer() === undefined ? 'redis-server is not installed' : findEtcd() === undefined ? 'etcd is not installed' : false;
  it('meets every bar of the issue', { skip: missing, timeout: 400_000 }, async () => {
    const { result, progress: err, code } = await runProofJson<{ pass: boolean; rows: Row[] }>(RUN);
    assert.equal(result.rows.length, 4, err);
    for (const r of result.rows) assert.ok(r.pass, `${r.id} ${r.name}: ${r.observed}\n${err}`);
    assert.equal(code, 0);
  });
});
