/**
 * Real Redis and PostgreSQL servers for integration tests: each call starts a private
 * server on a free loopback port with its data in a fresh temporary directory, and
 * `stop()` removes both. Nothing is shared between tests and nothing is left behind;
 * servers a test forgot to stop are killed when the test process exits.
 *
 * When the server software is not installed the start functions return `null`, so a
 * test can skip with a reason instead of failing:
 *
 * @example
 * const redis = await startRedis();
 * test('rate limit shared through redis', { skip: redis ? false : REDIS_MISSING }, async () => { ... });
 * after(() => redis?.stop());
 *
 * `npm test` installs both with apt-get when it runs as root (see scripts/test.mjs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, isListening } from './free-port.js';
import { findExecutable, isExecutable } from './executables.js';

/** A server started for a test. */
export interface RunningServer {
  port: number;
  /** Connection URL: `redis://127.0.0.1:PORT` or `postgres://postgres@127.0.0.1:PORT/postgres`. */
  url: string;
  /** Shuts the server down and deletes its data. Safe to call twice. */
  stop(): Promise<void>;
}

export interface PostgresServer extends RunningServer {
  /** Directory of the PostgreSQL programs (`psql`, `pg_dump`, ...). */
  bin: string;
  user: string;
  database: string;
}

export const REDIS_MISSING = 'redis-server is not installed (npm test installs it as root; otherwise: sudo apt-get install redis-server)';
export const POSTGRES_MISSING = 'PostgreSQL is not installed (npm test installs it as root; otherwise: sudo apt-get install postgresql)';

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 3;



/** Path of `redis-server` (`$BRISK_REDIS_SERVER`, else PATH), or undefined. */
export function findRedisServer(): string | undefined {
  return findExecutable('BRISK_REDIS_SERVER', ['redis-server']);
}

/**
 * Directory holding `postgres` and `initdb`: `$BRISK_POSTGRES_BIN`, else the newest
 * `/usr/lib/postgresql/N/bin` (Debian keeps them off PATH), else next to a `postgres`
 * on PATH. Undefined when PostgreSQL is not installed.
 */
export function findPostgresBin(): string | undefined {
  const fromEnv = process.env['BRISK_POSTGRES_BIN'];
  if (fromEnv && isExecutable(join(fromEnv, 'postgres'))) return fromEnv;
  let versions: string[] = [];
  try {
    versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
  } catch {
    // not the Debian layout
  }
  for (const version of versions) {
    const bin = join('/usr/lib/postgresql', version, 'bin');
    if (isExecutable(join(bin, 'postgres')) && isExecutable(join(bin, 'initdb'))) return bin;
  }
  const onPath = findExecutable(null, ['postgres']);
  if (onPath !== undefined) {
    const bin = join(onPath, '..');
    if (isExecutable(join(bin, 'initdb'))) return bin;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------
// Clean-up of servers a test did not stop (a failed assertion before `stop()`).

const exitCleanups = new Set<() => void>();
let exitHooked = false;

export function cleanupOnExit(fn: () => void): () => void {
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', () => {
      for (const cleanup of exitCleanups) {
        try {
          cleanup();
        } catch {
          // best effort while exiting
        }
      }
    });
  }
  exitCleanups.add(fn);
  return () => exitCleanups.delete(fn);
}

/**
 * Spawns a server and keeps the last few kilobytes of its output for error messages.
 * The child does not keep the test process alive by itself: a forgotten server must
 * not hang the test file (Node 20's runner would wait for it forever).
 */
export function spawnServer(command: string, args: string[], cwd: string): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4096);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.unref();
  (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  return { child, output: () => output };
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  child.ref(); // the caller awaits this: keep the process alive until the child is gone
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Polls `ready` until it returns true; fails fast when the server process exits. */
export async function waitUntilReady(what: string, child: ChildProcess, output: () => string, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (hasExited(child)) throw new Error(`${what} exited during start-up (code ${child.exitCode ?? child.signalCode}):\n${output()}`);
    if (await ready().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} was not ready after ${START_TIMEOUT_MS} ms:\n${output()}`);
}

function isPortClash(output: string): boolean {
  return /address already in use|could not bind|could not create listen socket/i.test(output);
}

// ---------------------------------------------------------------------------------
// Redis

/** A reply in the Redis protocol (RESP2). */
export type RespValue = string | number | null | RespError | RespValue[];

export class RespError extends Error {
  override name = 'RespError';
}

function encodeCommand(args: readonly string[]): Buffer {
  let out = `*${args.length}\r\n`;
  for (const arg of args) out += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
  return Buffer.from(out);
}

/** Parses one reply at `offset`; undefined when more bytes are needed. */
function parseReply(buf: Buffer, offset: number): [RespValue, number] | undefined {
  const eol = buf.indexOf('\r\n', offset);
  if (eol === -1) return undefined;
  const line = buf.toString('utf8', offset + 1, eol);
  const next = eol + 2;
  switch (buf[offset]) {
    case 0x2b: // +
      return [line, next];
    case 0x2d: // -
      return [new RespError(line), next];
    case 0x3a: // :
      return [Number(line), next];
    case 0x24: {
      // $
      const length = Number(line);
      if (length < 0) return [null, next];
      if (buf.length < next + length + 2) return undefined;
      return [buf.toString('utf8', next, next + length), next + length + 2];
    }
    case 0x2a: {
      // *
      const count = Number(line);
      if (count < 0) return [null, next];
      const items: RespValue[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, at);
        if (item === undefined) return undefined;
        items.push(item[0]);
        at = item[1];
      }
      return [items, at];
    }
    default:
      throw new Error(`not a RESP reply: ${JSON.stringify(buf.toString('utf8', offset, Math.min(buf.length, offset + 40)))}`);
  }
}

/**
 * Sends one command over a fresh connection and returns the reply: a dependency-free
 * way for tests to look into Redis (`await redisCommand(port, ['GET', 'key'])`).
 * Error replies are returned as {@link RespError}, not thrown.
 */
export function redisCommand(port: number, args: readonly string[], options: { host?: string; timeoutMs?: number } = {}): Promise<RespValue> {
  const { host = '127.0.0.1', timeoutMs = 2000 } = options;
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (error: Error | undefined, value?: RespValue) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (error) reject(error);
      else resolve(value ?? null);
    };
    socket.setTimeout(timeoutMs, () => finish(new Error(`redis ${args[0] ?? ''} on port ${port}: no reply within ${timeoutMs} ms`)));
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error(`redis ${args[0] ?? ''} on port ${port}: connection closed before the reply`)));
    socket.on('connect', () => socket.write(encodeCommand(args)));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      try {
        const reply = parseReply(buf, 0);
        if (reply !== undefined) finish(undefined, reply[0]);
      } catch (error) {
        finish(error as Error);
      }
    });
  });
}

/**
 * Starts a private redis-server on 127.0.0.1 (no persistence, data in a temp dir).
 * Returns null when redis-server is not installed; throws when it is but fails.
 */
export async function startRedis(): Promise<RunningServer | null> {
  const bin = findRedisServer();
  if (bin === undefined) return null;

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'brisk-redis-'));
    // prettier-ignore
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--daemonize', 'no', '--logfile', '', '--protected-mode', 'yes'];
    const { child, output } = spawnServer(bin, args, dir);
    const forget = cleanupOnExit(() => {
      if (!hasExited(child)) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    const kill = async () => {
      if (!hasExited(child)) {
        child.kill('SIGTERM');
        if (!(await waitForExit(child, STOP_TIMEOUT_MS))) {
          child.kill('SIGKILL');
          await waitForExit(child, STOP_TIMEOUT_MS);
        }
      }
      rmSync(dir, { recursive: true, force: true });
      forget();
    };

    try {
      await waitUntilReady(`redis-server on port ${port}`, child, output, async () => (await redisCommand(port, ['PING'], { timeoutMs: 500 })) === 'PONG');
    } catch (error) {
      await kill();
      if (attempt < PORT_ATTEMPTS && isPortClash(output())) continue;
      throw error;
    }

    let stopping: Promise<void> | undefined;
    return {
      port,
      url: `redis://127.0.0.1:${port}`,
      stop: () => (stopping ??= kill()),
    };
  }
}

// ---------------------------------------------------------------------------------
// PostgreSQL

interface Account {
  uid: number;
  gid: number;
}

function lookUpAccount(name: string): Account | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields[0] === name && fields[2] !== undefined && fields[3] !== undefined) return { uid: Number(fields[2]), gid: Number(fields[3]) };
    }
  } catch {
    // no /etc/passwd: not a system where we run as root anyway
  }
  return undefined;
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * PostgreSQL refuses to run as root. As root the programs run as the `postgres` user
 * (which the Debian package creates), through runuser or, failing that, su.
 */
function asPostgresUser(isRoot: boolean, command: string, args: string[]): [string, string[]] {
  if (!isRoot) return [command, args];
  const runuser = findSystemProgram('runuser');
  if (runuser !== undefined) return [runuser, ['-u', 'postgres', '--', command, ...args]];
  const su = findSystemProgram('su');
  if (su !== undefined) return [su, ['postgres', '-s', '/bin/sh', '-c', [command, ...args].map(shellQuote).join(' ')]];
  throw new Error('running as root, PostgreSQL must run as the "postgres" user, but neither runuser nor su was found');
}

/** PATH first, then the usual system directories (a root shell's PATH may lack sbin). */
function findSystemProgram(name: string): string | undefined {
  return findExecutable(null, [name]) ?? ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].map((dir) => join(dir, name)).find(isExecutable);
}

function runToEnd(command: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

/**
 * `postmaster.pid` holds the server's PID on its first line and, since PostgreSQL 10,
 * its state on the eighth: "ready" once it takes connections.
 */
function readPostmasterPid(dataDir: string): { pid: number; status: string } | undefined {
  try {
    const lines = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
    const pid = Number(lines[0]);
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    return { pid, status: (lines[7] ?? '').trim() };
  } catch {
    return undefined;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/**
 * Starts a private PostgreSQL server on 127.0.0.1: a new cluster (initdb, trust
 * authentication, user and database `postgres`) in a temp dir, tuned for speed over
 * durability. Returns null when PostgreSQL is not installed; throws when it is but
 * fails to start.
 */
export async function startPostgres(): Promise<PostgresServer | null> {
  const bin = findPostgresBin();
  if (bin === undefined) return null;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const account = isRoot ? lookUpAccount('postgres') : undefined;
  if (isRoot && account === undefined) {
    throw new Error('running as root, but there is no "postgres" user to run PostgreSQL as (the Debian package postgresql creates it)');
  }

  const dir = mkdtempSync(join(tmpdir(), 'brisk-pg-'));
  if (account !== undefined) chownSync(dir, account.uid, account.gid);
  const dataDir = join(dir, 'data');
  const removeDir = () => rmSync(dir, { recursive: true, force: true });

  try {
    const [initCommand, initArgs] = asPostgresUser(isRoot, join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    const init = await runToEnd(initCommand, initArgs, dir);
    if (init.code !== 0) throw new Error(`initdb failed (exit code ${init.code}):\n${init.output.slice(-4096)}`);
  } catch (error) {
    removeDir();
    throw error;
  }

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    // prettier-ignore
    const [command, args] = asPostgresUser(isRoot, join(bin, 'postgres'), ['-D', dataDir, '-p', String(port),
      '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`,
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
      '-c', 'shared_buffers=32MB', '-c', 'max_connections=50']);
    const { child, output } = spawnServer(command, args, dir);
    // The spawned process may be runuser/su; signals go to the postmaster itself.
    const forget = cleanupOnExit(() => {
      const postmaster = readPostmasterPid(dataDir);
      if (postmaster !== undefined) signal(postmaster.pid, 'SIGQUIT');
      if (!hasExited(child)) child.kill('SIGKILL');
      removeDir();
    });
    const shutdown = async () => {
      if (!hasExited(child)) {
        const postmaster = readPostmasterPid(dataDir);
        // SIGINT is PostgreSQL's "fast" shutdown: no waiting for clients to leave.
        if (postmaster !== undefined) signal(postmaster.pid, 'SIGINT');
        else child.kill('SIGTERM');
        if (!(await waitForExit(child, STOP_TIMEOUT_MS))) {
          const stuck = readPostmasterPid(dataDir);
          if (stuck !== undefined) signal(stuck.pid, 'SIGQUIT');
          child.kill('SIGKILL');
          await waitForExit(child, STOP_TIMEOUT_MS);
        }
      }
      forget();
    };

    try {
      await waitUntilReady(`postgres on port ${port}`, child, output, async () => readPostmasterPid(dataDir)?.status === 'ready' && (await isListening(port)));
    } catch (error) {
      await shutdown();
      if (attempt < PORT_ATTEMPTS && isPortClash(output())) continue;
      removeDir();
      throw error;
    }

    let stopping: Promise<void> | undefined;
    return {
      port,
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      bin,
      user: 'postgres',
      database: 'postgres',
      stop: () =>
        (stopping ??= shutdown().then(() => {
          removeDir();
        })),
    };
  }
}
