/**
 * A local PostgreSQL cluster for development, tests and the proof: a primary made with
 * `initdb` and streaming replicas made with `pg_basebackup -R`, each on a free loopback
 * port with its data in a temporary directory, started and stopped with `pg_ctl` (as the
 * `postgres` user when running as root). Tuned for speed (`fsync=off`): never for data
 * you want to keep.
 *
 * @example
 * const cluster = await startLocalPostgres({ replicas: 1, synchronous: true });
 * const db = await Database.connect({ url: cluster.url });
 * await cluster.primary.kill();          // pg_ctl stop -m immediate
 * await cluster.replicas[0].promote();   // pg_ctl promote
 * await cluster.stop();
 */
import { appendFileSync, chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, asPostgres, isRoot, killOnExit, postgresAccount, postgresBinDir, run, signal } from './processes.js';
import { freePort } from './ports.js';

export const POSTGRES_NOT_INSTALLED = 'PostgreSQL server programs (initdb, pg_ctl, pg_basebackup) are not installed: sudo apt-get install postgresql (npm test installs it when run as root)';

export interface LocalPostgresNode {
  readonly name: string;
  readonly port: number;
  readonly dataDir: string;
  /** `postgres://postgres@127.0.0.1:PORT/postgres` */
  readonly url: string;
  /** The postmaster's PID while it runs. */
  pid(): number | undefined;
  /** `pg_ctl stop -m immediate`: the abrupt crash of a server (no checkpoint, clients cut). */
  kill(): Promise<void>;
  /** `pg_ctl stop -m fast`. */
  stop(): Promise<void>;
  /** `pg_ctl start` again on the same port. */
  start(): Promise<void>;
  /** `pg_ctl promote`: a replica becomes a primary. */
  promote(): Promise<void>;
  /** Appends settings to postgresql.conf and reloads (`recovery_min_apply_delay`, …). */
  configure(settings: Record<string, string>): Promise<void>;
  /**
   * Turns this (cleanly stopped or running) former primary into a streaming replica of
   * `primary`: stops it, adds `standby.signal` and `primary_conninfo`, starts it (a
   * switchover's second half; after a crash the old primary would need pg_rewind).
   */
  follow(primary: LocalPostgresNode): Promise<void>;
}

export interface LocalPostgresCluster {
  readonly primary: LocalPostgresNode;
  readonly replicas: readonly LocalPostgresNode[];
  readonly nodes: readonly LocalPostgresNode[];
  /** Multi-host URL naming every node: `postgres://postgres@127.0.0.1:P1,127.0.0.1:P2/postgres`. */
  readonly url: string;
  /** Stops every node and deletes the data. Safe to call twice. */
  stop(): Promise<void>;
}

export interface LocalPostgresOptions {
  /** Streaming replicas to make (default 0). */
  replicas?: number;
  /**
   * Synchronous replication (the primary acknowledges a commit once a replica has flushed
   * it): no acknowledged write is lost when the primary dies. Set on the primary's command
   * line only, so a promoted replica does not wait for a standby it does not have.
   */
  synchronous?: boolean;
  /** More settings for every node (`-c name=value`). */
  settings?: Record<string, string>;
}

/** Whether the PostgreSQL server programs are installed. */
export function postgresInstalled(): boolean {
  return postgresBinDir() !== undefined && (!isRoot || postgresAccount() !== undefined);
}

export async function startLocalPostgres(options: LocalPostgresOptions = {}): Promise<LocalPostgresCluster> {
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error(POSTGRES_NOT_INSTALLED);
  const account = isRoot ? postgresAccount() : undefined;
  if (isRoot && account === undefined) throw new Error('running as root, but there is no "postgres" account to run PostgreSQL as (the Debian package postgresql creates it)');
  const base = mkdtempSync(join(tmpdir(), 'brisk-svc-pg-'));
  if (account !== undefined) chownSync(base, account.uid, account.gid);
  const nodes: Node[] = [];
  const forget = killOnExit(() => {
    for (const node of nodes) node.killNow();
    rmSync(base, { recursive: true, force: true });
  });
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      await Promise.allSettled(nodes.map((n) => n.stop()));
      forget();
      rmSync(base, { recursive: true, force: true });
    })());
  try {
    const common = {
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${base}'`,
      fsync: 'off',
      full_page_writes: 'off',
      shared_buffers: '32MB',
      max_connections: '100',
      wal_keep_size: "'128MB'",
      hot_standby_feedback: 'on',
      ...options.settings,
    };
    const primary = new Node(bin, 'primary', join(base, 'primary'), await freePort(), base);
    nodes.push(primary);
    await run(...asPostgres(join(bin, 'initdb'), ['-D', primary.dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']), { cwd: base });
    appendFileSync(primary.dataDir + '/postgresql.conf', Object.entries(common).map(([k, v]) => `${k} = ${v}\n`).join(''));
    // Command-line only: pg_basebackup copies postgresql.conf, and a promoted replica that
    // inherited synchronous_standby_names would wait forever for a standby it lacks.
    primary.commandLine = options.synchronous === true ? ['-c', 'synchronous_standby_names=walreceiver', '-c', 'synchronous_commit=on'] : [];
    await primary.start();
    const replicas: Node[] = [];
    for (let i = 1; i <= (options.replicas ?? 0); i++) {
      const replica = new Node(bin, `replica${i}`, join(base, `replica${i}`), await freePort(), base);
      nodes.push(replica);
      await run(...asPostgres(join(bin, 'pg_basebackup'), ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', replica.dataDir, '-R', '-X', 'stream', '-c', 'fast']), { cwd: base });
      chmodSync(replica.dataDir, 0o700);
      await replica.start();
      replicas.push(replica);
    }
    return {
      primary,
      replicas,
      nodes: [primary, ...replicas],
      url: `postgres://postgres@${[primary, ...replicas].map((n) => `127.0.0.1:${n.port}`).join(',')}/postgres`,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

class Node implements LocalPostgresNode {
  commandLine: string[] = [];
  readonly url: string;
  constructor(
    readonly bin: string,
    readonly name: string,
    readonly dataDir: string,
    readonly port: number,
    readonly base: string,
  ) {
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  }

  pid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  #pgCtl(args: string[], timeoutMs = 30_000): Promise<string> {
    return run(...asPostgres(join(this.bin, 'pg_ctl'), ['-D', this.dataDir, ...args]), { cwd: this.base, timeoutMs });
  }

  async start(): Promise<void> {
    const opts = ['-p', String(this.port), ...this.commandLine].join(' ');
    await this.#pgCtl(['start', '-w', '-t', '30', '-l', join(this.base, `${this.name}.log`), '-o', opts], 40_000);
  }

  async kill(): Promise<void> {
    if (this.pid() === undefined) return;
    await this.#pgCtl(['stop', '-m', 'immediate', '-w', '-t', '10']).catch(() => this.killNow());
  }

  async stop(): Promise<void> {
    if (this.pid() === undefined) return;
    await this.#pgCtl(['stop', '-m', 'fast', '-w', '-t', '10']).catch(() => this.killNow());
  }

  async promote(): Promise<void> {
    await this.#pgCtl(['promote', '-w', '-t', '30']);
  }

  async configure(settings: Record<string, string>): Promise<void> {
    appendFileSync(join(this.dataDir, 'postgresql.conf'), Object.entries(settings).map(([k, v]) => `${k} = ${v}\n`).join(''));
    await this.#pgCtl(['reload']);
  }

  async follow(primary: LocalPostgresNode): Promise<void> {
    await this.stop();
    const signalFile = join(this.dataDir, 'standby.signal');
    writeFileSync(signalFile, '');
    const account = isRoot ? postgresAccount() : undefined;
    if (account !== undefined) chownSync(signalFile, account.uid, account.gid);
    appendFileSync(join(this.dataDir, 'postgresql.auto.conf'), `primary_conninfo = 'host=127.0.0.1 port=${primary.port} user=postgres application_name=walreceiver'\n`);
    this.commandLine = [];
    await this.start();
  }

  /** SIGQUIT to the postmaster (immediate shutdown), synchronous: for process exit. */
  killNow(): void {
    const pid = this.pid();
    if (pid !== undefined) signal(pid, 'SIGQUIT');
  }
}
