/**
 * Proves the test helpers work: each starts a real server, talks to it, stops it and
 * checks that it is gone. Redis and PostgreSQL tests skip (with the reason) where the
 * software is not installed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { startBackend, type EchoBody } from './helpers/backend.js';
import { freePort, isListening } from './helpers/free-port.js';
import { findPostgresBin, findRedisServer, POSTGRES_MISSING, REDIS_MISSING, redisCommand, RespError, startPostgres, startRedis } from './helpers/servers.js';

describe('freePort', () => {
  test('returns a port nobody listens on, which can then be bound', async () => {
    const port = await freePort();
    assert.ok(Number.isInteger(port) && port > 0 && port < 65536, `port ${port}`);
    assert.equal(await isListening(port), false);
  });
});

describe('startBackend', () => {
  test('echoes method, url, headers and body length, then closes', async () => {
    const backend = await startBackend();
    after(() => backend.close());
    assert.equal(backend.url, `http://127.0.0.1:${backend.port}`);

    const res = await fetch(`${backend.url}/echo/me?x=1`, { method: 'POST', headers: { 'x-test': 'yes' }, body: 'hello world' });
    assert.equal(res.status, 200);
    const body = (await res.json()) as EchoBody;
    assert.equal(body.method, 'POST');
    assert.equal(body.url, '/echo/me?x=1');
    assert.equal(body.headers['x-test'], 'yes');
    assert.equal(body.bodyLength, 11);

    await backend.close();
    assert.equal(await isListening(backend.port), false);
  });

  test('a custom handler that throws answers 500 instead of crashing', async () => {
    const backend = await startBackend(() => {
      throw new Error('boom');
    });
    after(() => backend.close());
    const res = await fetch(`${backend.url}/`);
    assert.equal(res.status, 500);
    assert.match(await res.text(), /boom/);
  });
});

// Skips are set per test, not per suite, so that the runner counts them as skipped.
const redisSkip = findRedisServer() === undefined ? REDIS_MISSING : false;

describe('startRedis', () => {
  test('starts a private redis-server that answers PING, SET and GET, and stops it', { skip: redisSkip }, async () => {
    const redis = await startRedis();
    assert.ok(redis, 'redis-server was found, so startRedis must not return null');
    after(() => redis.stop());
    assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`);

    assert.equal(await redisCommand(redis.port, ['PING']), 'PONG');
    assert.equal(await redisCommand(redis.port, ['SET', 'brisk:key', 'värde']), 'OK');
    assert.equal(await redisCommand(redis.port, ['GET', 'brisk:key']), 'värde');
    assert.equal(await redisCommand(redis.port, ['GET', 'brisk:missing']), null);
    assert.deepEqual(await redisCommand(redis.port, ['MGET', 'brisk:key', 'brisk:missing']), ['värde', null]);
    assert.ok((await redisCommand(redis.port, ['NOSUCHCOMMAND'])) instanceof RespError);

    await redis.stop();
    assert.equal(await isListening(redis.port), false);
  });

  test('two servers at once are independent', { skip: redisSkip }, async () => {
    const [a, b] = await Promise.all([startRedis(), startRedis()]);
    assert.ok(a && b);
    after(() => Promise.all([a.stop(), b.stop()]));
    assert.notEqual(a.port, b.port);
    await redisCommand(a.port, ['SET', 'k', 'a']);
    assert.equal(await redisCommand(b.port, ['GET', 'k']), null);
  });
});

function psql(bin: string, port: number, sql: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const local = join(bin, 'psql');
  const command = existsSync(local) ? local : 'psql';
  return new Promise((resolve, reject) => {
    const child = spawn(command, ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-X', '-tA', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const postgresBin = findPostgresBin();
const postgresSkip =
  postgresBin === undefined ? POSTGRES_MISSING : !existsSync(join(postgresBin, 'psql')) ? 'psql is not installed (sudo apt-get install postgresql-client)' : false;

describe('startPostgres', () => {
  test('starts a private PostgreSQL that answers SELECT 1, and stops it', { skip: postgresSkip }, async () => {
    const pg = await startPostgres();
    assert.ok(pg, 'PostgreSQL was found, so startPostgres must not return null');
    after(() => pg.stop());
    assert.equal(pg.url, `postgres://postgres@127.0.0.1:${pg.port}/postgres`);

    const one = await psql(pg.bin, pg.port, 'SELECT 1');
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout.trim(), '1');

    const write = await psql(pg.bin, pg.port, "CREATE TABLE t (v text); INSERT INTO t VALUES ('brisk'); SELECT v FROM t");
    assert.equal(write.code, 0, write.stderr);
    assert.equal(write.stdout.trim().split('\n').pop(), 'brisk');

    await pg.stop();
    assert.equal(await isListening(pg.port), false);
  });
});
