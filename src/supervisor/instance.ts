/**
 * One process of a supervised service: spawned with `$PORT`, `$BRISK_INSTANCE` and
 * `$BRISK_SERVICE`, in a process group of its own, its output piped to the service's
 * output, stopped with SIGTERM then SIGKILL after a grace period.
 *
 * Its own process group (`detached`): a Ctrl-C on Brisk's terminal reaches Brisk alone,
 * which then drains and stops the instances in order instead of having them die under
 * requests in flight; and signals go to the whole group, so the children of a
 * `/bin/sh -c` command are stopped too. The price is that a Brisk killed with SIGKILL
 * leaves its instances running (every other exit of Brisk kills them: see
 * `Supervisor`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { InstanceState, RestartReason } from '../observability/snapshot.js';
import type { CommandConfig } from './config/types.js';
import type { ServiceOutput } from './output.js';
import { INSTANCE_HOST } from './ports.js';

/** How a process ended. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The program could not be started (ENOENT, EACCES, a missing cwd). */
  readonly spawnError: string | null;
  /** `Date.now()`. */
  readonly at: number;
}

/** Why an instance is leaving (being replaced or removed), once decided. */
export interface Leaving {
  readonly reason: RestartReason | 'scale-down' | 'removed' | 'shutdown';
  readonly detail: string;
  readonly at: number;
}

/** What an instance is started with. */
export interface LaunchSpec {
  readonly service: string;
  readonly command: CommandConfig;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly upstream: string;
}

/**
 * @example
 * const i = new Instance(3, 41234, spec);
 * i.start(output, (exit) => console.log(describeExit(exit)));
 * await i.stop(10_000);
 */
export class Instance {
  /** `http://127.0.0.1:PORT`: its target key in the upstream. */
  readonly url: string;
  pid: number | null = null;
  state: InstanceState = 'starting';
  readonly startedAt = Date.now();
  readyAt: number | null = null;
  /** In the upstream's target set (added once its port accepted connections). */
  joined = false;
  /** `Date.now()` when it last started failing its health check or got ejected; 0 while healthy. */
  unhealthySince = 0;
  /** Why it is unhealthy, as the data plane said. */
  unhealthyReason = '';
  /** Its health probes (sent at, took ms), newest last, for the latency rule. */
  private probes: Array<{ at: number; ms: number }> = [];
  /** When a restart of it last had to wait for the budget (logged once per window). */
  deferredAt = -Infinity;
  /** Memory samples in a row above `maxMemory`. */
  memoryHigh = 0;
  rssBytes: number | null = null;
  cpuPercent: number | null = null;
  private lastCpu: { seconds: number; at: number } | null = null;
  sampling = false;
  /** Requests in flight, from the last look at the upstream. */
  inFlight = 0;
  /** Set once it is to go: replaced, scaled down, removed. */
  leaving: Leaving | null = null;
  /** The instance this one replaces; it is stopped once this one is ready. */
  replaces: Instance | null = null;
  /** The instance started to replace this one. */
  replacedBy: Instance | null = null;
  /** Restarts of its place: its predecessor's plus one. */
  restarts = 0;
  lastRestart: { readonly reason: RestartReason; readonly detail: string; readonly at: number; readonly replaced: number } | null = null;
  exit: ExitInfo | null = null;
  /** The drain deadline, while draining. */
  drainDeadline = 0;
  private child: ChildProcess | null = null;
  private exitWaiters: Array<() => void> = [];

  constructor(
    readonly id: number,
    readonly port: number,
    readonly spec: LaunchSpec,
  ) {
    this.url = `http://${INSTANCE_HOST}:${port}`;
  }

  /** Spawns the process; `onExit` is called once, however it ends (a spawn failure included). */
  start(output: ServiceOutput, onExit: (exit: ExitInfo) => void): void {
    const [file, ...args] = this.spec.command.argv;
    const env = { ...process.env, ...this.spec.env, PORT: String(this.port), BRISK_INSTANCE: String(this.id), BRISK_SERVICE: this.spec.service };
    let ended = false;
    const end = (exit: ExitInfo): void => {
      if (ended) return;
      ended = true;
      this.exit = exit;
      this.child = null;
      for (const w of this.exitWaiters.splice(0)) w();
      onExit(exit);
    };
    let child: ChildProcess;
    try {
      child = spawn(file!, args, { cwd: this.spec.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true, shell: false });
    } catch (err) {
      queueMicrotask(() => end({ code: null, signal: null, spawnError: (err as Error).message, at: Date.now() }));
      return;
    }
    this.child = child;
    this.pid = child.pid ?? null;
    child.once('error', (err: NodeJS.ErrnoException) => {
      // Only a failure to start ends the instance here; a failed kill of a running one is not an exit.
      if (this.pid === null || child.exitCode !== null || err.syscall?.startsWith('spawn') === true) {
        end({ code: null, signal: null, spawnError: spawnMessage(err, file!, this.spec.cwd), at: Date.now() });
      }
    });
    child.once('exit', (code, signal) => end({ code, signal, spawnError: null, at: Date.now() }));
    if (this.pid !== null) {
      output.attach(child.stdout!, this.id, this.pid, 'stdout');
      output.attach(child.stderr!, this.id, this.pid, 'stderr');
    }
  }

  /** Whether its process is running. */
  get alive(): boolean {
    return this.child !== null && this.exit === null;
  }

  /** Sends a signal to its whole process group (and to the process, should the group be gone). */
  signal(signal: NodeJS.Signals): void {
    const pid = this.pid;
    if (pid === null || !this.alive) return;
    try {
      process.kill(-pid, signal);
    } catch {
      try {
        this.child?.kill(signal);
      } catch {
        // Gone already: its exit event follows.
      }
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  async stop(graceMs: number): Promise<void> {
    this.state = 'stopping';
    if (!this.alive) return;
    this.signal('SIGTERM');
    if (await this.exited(graceMs)) return;
    this.signal('SIGKILL');
    // A process in uninterruptible sleep may take a moment even after SIGKILL.
    await this.exited(5000);
  }

  /** Resolves true once it exited, false after `timeoutMs`. */
  exited(timeoutMs: number): Promise<boolean> {
    if (!this.alive) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.exitWaiters = this.exitWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.exitWaiters.push(done);
    });
  }

  /** Takes a memory and CPU reading (see `process-stats.ts`). */
  recordSample(sample: { rssBytes: number; cpuSeconds: number } | null, now: number): void {
    if (sample === null) return;
    this.rssBytes = sample.rssBytes;
    const last = this.lastCpu;
    if (last !== null && now > last.at) this.cpuPercent = Math.max(0, ((sample.cpuSeconds - last.seconds) / ((now - last.at) / 1000)) * 100);
    this.lastCpu = { seconds: sample.cpuSeconds, at: now };
  }

  /** Notes a health probe the data plane reported (each once, by its send time). */
  recordProbe(probe: { readonly at: number; readonly ms: number } | null): void {
    if (probe === null || (this.probes.length > 0 && this.probes[this.probes.length - 1]!.at >= probe.at)) return;
    this.probes.push({ at: probe.at, ms: probe.ms });
    // An hour of probes at the shortest interval is bounded anyway; this keeps it small.
    if (this.probes.length > 512) this.probes.splice(0, this.probes.length - 512);
  }

  /** Durations of the probes sent since `from`. */
  probesSince(from: number): number[] {
    return this.probes.filter((p) => p.at >= from).map((p) => p.ms);
  }

  /** Milliseconds since it became ready (0 while not ready). */
  readyForMs(now: number): number {
    return this.readyAt === null ? 0 : now - this.readyAt;
  }
}

/** How a process ended, in words: `exited with code 1`, `killed by SIGKILL`, `could not start: …`. */
export function describeExit(exit: ExitInfo): string {
  if (exit.spawnError !== null) return `could not start: ${exit.spawnError}`;
  if (exit.signal !== null) return `killed by ${exit.signal}`;
  return `exited with code ${exit.code}`;
}

function spawnMessage(err: NodeJS.ErrnoException, file: string, cwd: string): string {
  if (err.code === 'ENOENT') return `program ${JSON.stringify(file)} not found (or cwd ${cwd} does not exist): check command and PATH`;
  if (err.code === 'EACCES') return `program ${JSON.stringify(file)} is not executable (permission denied)`;
  return `${err.code ?? 'error'}: ${err.message}`;
}
