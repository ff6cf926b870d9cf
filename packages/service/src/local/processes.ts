/**
 * Running local server programs for development, tests and the proof: finding them, running
 * them as the right user, and killing what was started when the process exits.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `name` in one of `dirs`, then on PATH. */
export function which(name: string, dirs: readonly string[] = []): string | undefined {
  for (const dir of [...dirs, ...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/sbin']) {
    if (dir !== '' && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * The directory of PostgreSQL's server programs: `$BRISK_POSTGRES_BIN`, the newest
 * Debian `/usr/lib/postgresql/N/bin`, or where `pg_ctl` is on PATH.
 */
export function postgresBinDir(): string | undefined {
  const candidates: string[] = [];
  if (process.env['BRISK_POSTGRES_BIN']) candidates.push(process.env['BRISK_POSTGRES_BIN']);
  try {
    const versions = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v));
    versions.sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  } catch {
    // not Debian's layout
  }
  const onPath = which('pg_ctl');
  if (onPath !== undefined) candidates.push(join(onPath, '..'));
  return candidates.find((dir) => ['initdb', 'pg_ctl', 'pg_basebackup', 'postgres'].every((p) => executable(join(dir, p))));
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** uid/gid of the `postgres` account (from /etc/passwd), needed when running as root. */
export function postgresAccount(): { uid: number; gid: number } | undefined {
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('postgres:'));
    const fields = line?.split(':');
    if (fields === undefined || fields.length < 4) return undefined;
    return { uid: Number(fields[2]), gid: Number(fields[3]) };
  } catch {
    return undefined;
  }
}

/** PostgreSQL refuses to run as root: as root, its programs run as `postgres` through runuser. */
export function asPostgres(command: string, args: string[]): [string, string[]] {
  if (!isRoot) return [command, args];
  const runuser = which('runuser');
  if (runuser === undefined) throw new Error('running as root, PostgreSQL must run as the "postgres" user, but runuser was not found');
  return [runuser, ['-u', 'postgres', '--', command, ...args]];
}

/** Runs a program to its end; rejects with its output when it fails. */
export function run(command: string, args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${[command, ...args].join(' ')} failed (${signal ?? `exit code ${code}`}):\n${output.slice(-3000)}`));
    });
  });
}

const onExit = new Set<() => void>();
let hooked = false;

/** Registers a synchronous clean-up for process exit; returns its removal. */
export function killOnExit(fn: () => void): () => void {
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const cleanup of onExit) {
        try {
          cleanup();
        } catch {
          // best effort while exiting
        }
      }
    });
  }
  onExit.add(fn);
  return () => onExit.delete(fn);
}

/** Sends a signal, ignoring a process that is already gone. */
export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone
  }
}

/** Whether a process with this PID exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
