/**
 * A real single-member etcd on loopback for tests and the multinode proof, its data in a
 * temporary directory. `kill()` stops it (SIGKILL) and `restart()` starts it again on the
 * same ports with the same data: an outage and a recovery.
 *
 * @example
 * const etcd = await startEtcd();
 * test('…', { skip: etcd ? false : ETCD_MISSING }, async () => { … });
 * after(() => etcd?.stop());
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable } from './executables.js';
import { freePort } from './free-port.js';
import { cleanupOnExit, hasExited, spawnServer, waitForExit, waitUntilReady } from './servers.js';

export const ETCD_MISSING = 'etcd is not installed (npm test installs etcd-server as root; otherwise: sudo apt-get install etcd-server)';

export interface RunningEtcd {
  readonly port: number;
  /** `http://127.0.0.1:PORT`, as `endpoints` takes it. */
  readonly url: string;
  /** SIGKILLs the server (its data stays). */
  kill(): Promise<void>;
  /** Starts it again on the same ports and data. */
  restart(): Promise<void>;
  /** Sends a signal (SIGSTOP freezes it: connections stay open and silent; SIGCONT thaws it). */
  signal(signal: NodeJS.Signals): void;
  /** True while the process runs. */
  readonly running: boolean;
  stop(): Promise<void>;
}

/** Path of `etcd` (`$BRISK_ETCD`, else PATH), or undefined. */
export function findEtcd(): string | undefined {
  return findExecutable('BRISK_ETCD', ['etcd']);
}

/** Starts etcd; null when it is not installed. */
export async function startEtcd(): Promise<RunningEtcd | null> {
  const bin = findEtcd();
  if (bin === undefined) return null;
  const dir = mkdtempSync(join(tmpdir(), 'brisk-etcd-'));
  const port = await freePort();
  const peer = await freePort();
  // prettier-ignore
  const args = ['--name', 'brisk', '--data-dir', join(dir, 'data'),
    '--listen-client-urls', `http://127.0.0.1:${port}`, '--advertise-client-urls', `http://127.0.0.1:${port}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `brisk=http://127.0.0.1:${peer}`, '--log-level', 'error', '--logger', 'zap'];
  let child: ChildProcess | null = null;
  const forget = cleanupOnExit(() => {
    if (child !== null && !hasExited(child)) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  const launch = async () => {
    const started = spawnServer(bin, args, dir);
    child = started.child;
    await waitUntilReady(`etcd on port ${port}`, started.child, started.output, async () => {
      const res = await fetch(`${url}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: 'AA==' }), signal: AbortSignal.timeout(500) });
      return res.status === 200;
    });
  };
  const kill = async () => {
    if (child !== null && !hasExited(child)) {
      child.kill('SIGKILL');
      await waitForExit(child, 5000);
    }
  };
  await launch();
  let stopping: Promise<void> | undefined;
  return {
    port,
    url,
    kill,
    restart: launch,
    signal: (sig: NodeJS.Signals) => {
      if (child !== null && !hasExited(child)) child.kill(sig);
    },
    get running() {
      return child !== null && !hasExited(child);
    },
    stop: () =>
      (stopping ??= (async () => {
        await kill();
        rmSync(dir, { recursive: true, force: true });
        forget();
      })()),
  };
}
