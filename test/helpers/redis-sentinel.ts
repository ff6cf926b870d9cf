/**
 * A real Redis Sentinel group on loopback for tests and the multinode proof: a primary, a
 * replica and three Sentinels (quorum 2), each a `redis-server` process with its data in a
 * temporary directory. Failovers are real: `failover()` asks a Sentinel
 * (`SENTINEL FAILOVER`), `killPrimary()` SIGKILLs the primary and lets the Sentinels
 * agree that it is down; both wait until the Sentinels name the new primary and it
 * answers as one.
 *
 * @example
 * const group = await startSentinelGroup();
 * test('…', { skip: group ? false : SENTINEL_MISSING }, async () => { … });
 * after(() => group?.stop());
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { cleanupOnExit, findRedisServer, hasExited, redisCommand, spawnServer, waitForExit, waitUntilReady, type RespValue } from './servers.js';

export const SENTINEL_MISSING = 'redis-server is not installed (npm test installs it with redis-sentinel as root; otherwise: sudo apt-get install redis-server redis-sentinel)';

/** The master group name the Sentinels watch. */
export const SENTINEL_NAME = 'brisk';

export interface SentinelGroup {
  readonly name: string;
  /** `127.0.0.1:PORT` of each Sentinel, as the config's `sentinels` takes them. */
  readonly sentinels: readonly string[];
  readonly sentinelPorts: readonly number[];
  /** Ports of the two data servers (primary first at start). */
  readonly serverPorts: readonly number[];
  /** The port of the primary the Sentinels name now. */
  primaryPort(): Promise<number>;
  /** A Sentinel-driven failover; resolves with the old and new primary and how long it took. */
  failover(): Promise<Switch>;
  /** SIGKILLs the primary and waits for the Sentinels to promote the replica. */
  killPrimary(): Promise<Switch>;
  /** Starts a killed server again (the Sentinels make it a replica of the new primary). */
  restartServer(port: number): Promise<void>;
  stop(): Promise<void>;
}

export interface Switch {
  from: number;
  to: number;
  ms: number;
}

interface Proc {
  child: ChildProcess;
  output: () => string;
  args: string[];
  dir: string;
}

const SWITCH_TIMEOUT_MS = 30_000;

/** Starts the group; null when redis-server is not installed. */
export async function startSentinelGroup(): Promise<SentinelGroup | null> {
  const bin = findRedisServer();
  if (bin === undefined) return null;
  const root = mkdtempSync(join(tmpdir(), 'brisk-sentinel-'));
  const procs = new Map<number, Proc>();
  const forget = cleanupOnExit(() => {
    for (const p of procs.values()) if (!hasExited(p.child)) p.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  const start = (port: number, args: string[], dir: string): Proc => {
    const { child, output } = spawnServer(bin, args, dir);
    const p = { child, output, args, dir };
    procs.set(port, p);
    return p;
  };
  const startServer = async (port: number, replicaOf: number | null): Promise<void> => {
    const dir = join(root, `redis-${port}`);
    mkdirSync(dir, { recursive: true });
    // prettier-ignore
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--daemonize', 'no', '--logfile', '', ...(replicaOf === null ? [] : ['--replicaof', '127.0.0.1', String(replicaOf)])];
    const p = start(port, args, dir);
    await waitUntilReady(`redis-server on port ${port}`, p.child, p.output, async () => (await redisCommand(port, ['PING'], { timeoutMs: 500 })) === 'PONG');
  };

  const stop = async () => {
    await Promise.all(
      [...procs.values()].map(async (p) => {
        if (!hasExited(p.child)) {
          p.child.kill('SIGKILL');
          await waitForExit(p.child, 5000);
        }
      }),
    );
    rmSync(root, { recursive: true, force: true });
    forget();
  };

  try {
    const primary = await freePort();
    const replica = await freePort();
    await startServer(primary, null);
    await startServer(replica, primary);
    const sentinelPorts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const dir = join(root, `sentinel-${port}`);
      mkdirSync(dir, { recursive: true });
      const conf = join(dir, 'sentinel.conf');
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${primary} 2`,
          `sentinel down-after-milliseconds ${SENTINEL_NAME} 1000`,
          `sentinel failover-timeout ${SENTINEL_NAME} 10000`,
          `sentinel parallel-syncs ${SENTINEL_NAME} 1`,
          '',
        ].join('\n'),
      );
      const p = start(port, [conf, '--sentinel'], dir);
      sentinelPorts.push(port);
      await waitUntilReady(`redis-sentinel on port ${port}`, p.child, p.output, async () => Array.isArray(await redisCommand(port, ['SENTINEL', 'get-master-addr-by-name', SENTINEL_NAME], { timeoutMs: 500 })));
    }
    // A failover needs the Sentinels to know the replica and each other (hello messages every 2 s).
    await until(
      async () => {
        for (const port of sentinelPorts) {
          const others = await redisCommand(port, ['SENTINEL', 'sentinels', SENTINEL_NAME]);
          const replicas = await redisCommand(port, ['SENTINEL', 'replicas', SENTINEL_NAME]);
          if (!Array.isArray(others) || others.length < 2 || !Array.isArray(replicas) || replicas.length < 1) return false;
          const flags = fieldOf(replicas[0]!, 'flags');
          if (flags === undefined || /s_down|disconnected/.test(flags)) return false;
        }
        return String(await redisCommand(replica, ['INFO', 'replication'])).includes('master_link_status:up');
      },
      20_000,
      'the Sentinels did not discover each other and the replica',
    );

    const primaryPort = async (): Promise<number> => {
      for (const port of sentinelPorts) {
        const addr = await redisCommand(port, ['SENTINEL', 'get-master-addr-by-name', SENTINEL_NAME]).catch(() => null);
        if (Array.isArray(addr) && typeof addr[1] === 'string') return Number(addr[1]);
      }
      throw new Error('no Sentinel answered with a primary');
    };
    const waitSwitch = async (from: number, t0: number): Promise<Switch> => {
      let to = from;
      await until(
        async () => {
          to = await primaryPort();
          if (to === from) return false;
          const role = await redisCommand(to, ['ROLE'], { timeoutMs: 500 });
          return Array.isArray(role) && role[0] === 'master';
        },
        SWITCH_TIMEOUT_MS,
        `the Sentinels did not promote a new primary in place of ${from}`,
      );
      return { from, to, ms: Math.round(performance.now() - t0) };
    };

    return {
      name: SENTINEL_NAME,
      sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`),
      sentinelPorts,
      serverPorts: [primary, replica],
      primaryPort,
      async failover() {
        const from = await primaryPort();
        const t0 = performance.now();
        const reply = await redisCommand(sentinelPorts[0]!, ['SENTINEL', 'FAILOVER', SENTINEL_NAME]);
        if (reply !== 'OK') throw new Error(`SENTINEL FAILOVER: ${String(reply)}`);
        return waitSwitch(from, t0);
      },
      async killPrimary() {
        const from = await primaryPort();
        const p = procs.get(from);
        if (p === undefined) throw new Error(`no server on port ${from}`);
        const t0 = performance.now();
        p.child.kill('SIGKILL');
        await waitForExit(p.child, 5000);
        return waitSwitch(from, t0);
      },
      async restartServer(port: number) {
        const p = procs.get(port);
        if (p === undefined) throw new Error(`no server on port ${port}`);
        if (!hasExited(p.child)) return;
        const again = start(port, p.args, p.dir);
        await waitUntilReady(`redis-server on port ${port}`, again.child, again.output, async () => (await redisCommand(port, ['PING'], { timeoutMs: 500 })) === 'PONG');
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A field of a Sentinel reply given as a flat [name, value, …] list. */
function fieldOf(entry: RespValue, name: string): string | undefined {
  if (!Array.isArray(entry)) return undefined;
  for (let i = 0; i + 1 < entry.length; i += 2) if (entry[i] === name) return String(entry[i + 1]);
  return undefined;
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
