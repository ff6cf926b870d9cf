/**
 * Registry servers a test can stop and start again on the same port with the same data
 * (Redis, etcd): "the registry is down" is a real server gone, not a mock. Each runs from
 * a fresh temporary directory, removed by `close()`; a server left running is killed when
 * the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable } from './executables.js';
import { freePort } from './free-port.js';
import { findRedisServer, redisCommand } from './servers.js';

export interface RestartableServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Whether it runs now. */
  readonly running: boolean;
  /** Starts it (again), same port and data; resolves once it answers. */
  start(): Promise<void>;
  /** Kills it (SIGKILL: a crash, not a goodbye); resolves once it is gone. */
  kill(): Promise<void>;
  /** Kills it and removes its data. */
  close(): Promise<void>;
}

const alive = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of alive) c.kill('SIGKILL');
});

function restartable(what: string, port: number, url: string, dir: string, argv: readonly string[], ready: () => Promise<boolean>): RestartableServer {
  let child: ChildProcess | null = null;
  let output = '';
  const s: RestartableServer = {
    port,
    url,
    dir,
    get running() {
      return child !== null && child.exitCode === null && child.signalCode === null;
    },
    async start() {
      if (s.running) return;
      output = '';
      const c = spawn(argv[0]!, argv.slice(1), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
      c.stdout?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-4096)));
      c.stderr?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-4096)));
      c.unref();
      alive.add(c);
      child = c;
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        if (!s.running) throw new Error(`${what} exited during start-up:\n${output}`);
        if (await ready().catch(() => false)) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`${what} not ready after 20 s:\n${output}`);
    },
    async kill() {
      const c = child;
      if (c === null || !s.running) return;
      c.ref();
      const gone = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGKILL');
      await gone;
      alive.delete(c);
    },
    async close() {
      await s.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return s;
}

/** A redis-server on 127.0.0.1 that can go down and come back; null when redis-server is not installed. */
export async function restartableRedis(): Promise<RestartableServer | null> {
  const bin = findRedisServer();
  if (bin === undefined) return null;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'brisk-redis-r-'));
  // prettier-ignore
  const argv = [bin, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--logfile', '', '--protected-mode', 'yes'];
  const s = restartable(`redis-server on ${port}`, port, `redis://127.0.0.1:${port}`, dir, argv, async () => (await redisCommand(port, ['PING'], { timeoutMs: 500 })) === 'PONG');
  await s.start();
  return s;
}

/** Path of `etcd` (`$BRISK_ETCD`, else PATH, else /usr/bin/etcd), or undefined. */
export function findEtcd(): string | undefined {
  return findExecutable('BRISK_ETCD', ['etcd'], ['/usr/bin']);
}

export const ETCD_MISSING = 'etcd is not installed (npm test installs etcd-server as root; otherwise: sudo apt-get install etcd-server)';

/** A single-member etcd on 127.0.0.1 (client and peer ports free), data in a temp dir kept across restarts; null when etcd is not installed. */
export async function restartableEtcd(): Promise<RestartableServer | null> {
  const bin = findEtcd();
  if (bin === undefined) return null;
  const [port, peer] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'brisk-etcd-'));
  const client = `http://127.0.0.1:${port}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  // prettier-ignore
  const argv = [bin, '--name', 'test', '--data-dir', join(dir, 'data'), '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', `test=${peerUrl}`, '--initial-cluster-state', 'new',
    '--log-level', 'error', '--logger', 'zap'];
  const s = restartable(`etcd on ${port}`, port, client, dir, argv, async () => (await fetch(`${client}/health`, { signal: AbortSignal.timeout(500) })).ok);
  await s.start();
  return s;
}
