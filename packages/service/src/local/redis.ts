/**
 * A local redis-server for development, tests and the proof, on a free loopback port
 * with no persistence. It can be killed (SIGKILL) and started again on the same port, to
 * play a Redis outage.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { killOnExit, which } from './processes.js';

export const REDIS_NOT_INSTALLED = 'redis-server is not installed: sudo apt-get install redis-server (npm test installs it when run as root)';

export interface LocalRedis {
  readonly port: number;
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  pid(): number | undefined;
  /** SIGKILL: connections cut, data gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty). */
  start(): Promise<void>;
  /** Stops it for good and removes its directory. */
  stop(): Promise<void>;
}

export function redisServerPath(): string | undefined {
  const fromEnv = process.env['BRISK_REDIS_SERVER'];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : which('redis-server');
}

export async function startLocalRedis(): Promise<LocalRedis> {
  const bin = redisServerPath();
  if (bin === undefined) throw new Error(REDIS_NOT_INSTALLED);
  const dir = mkdtempSync(join(tmpdir(), 'brisk-svc-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const forget = killOnExit(() => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) return;
    const started = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'yes'], { stdio: 'ignore' });
    child = started;
    started.unref();
    const deadline = Date.now() + 10_000;
    while (!(await accepts(port))) {
      if (started.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
      await new Promise((r) => setTimeout(r, 30));
    }
  };
  const kill = async () => {
    const current = child;
    if (current === undefined || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise((r) => current.once('exit', r));
    // The child is unref'd so a forgotten server never holds a process open; while its exit
    // is awaited it must be ref'd, or a process with nothing else to do ends before it.
    current.ref();
    current.kill('SIGKILL');
    await exited;
  };
  await start();
  let stopping: Promise<void> | undefined;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: () => (child !== undefined && child.exitCode === null && child.signalCode === null ? child.pid : undefined),
    kill,
    start,
    stop: () =>
      (stopping ??= kill().then(() => {
        forget();
        rmSync(dir, { recursive: true, force: true });
      })),
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(300, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
