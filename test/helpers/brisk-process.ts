/**
 * `brisk start` as a child process, for tests that need a real second gateway, a signal or
 * a kill: its output captured, and a wait until one of its listeners answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface BriskProcess {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code when the process ends. */
  readonly exited: Promise<number | null>;
}

/** Spawns `brisk start --config FILE` (with `--no-watch` unless `watch`). */
export function spawnBrisk(configFile: string, options: { watch?: boolean; env?: NodeJS.ProcessEnv } = {}): BriskProcess {
  const args = [CLI, 'start', '--config', configFile, ...(options.watch === true ? [] : ['--no-watch'])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(options.env === undefined ? {} : { env: options.env }) });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Waits until `port` answers any HTTP request (`path`), or throws with the process's output. */
export async function waitAnswering(brisk: BriskProcess, port: number, path = '/', timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await (await request(`http://127.0.0.1:${port}${path}`)).body.dump();
      return;
    } catch {
      if (Date.now() > deadline || brisk.child.exitCode !== null) throw new Error(`gateway did not start:\n${brisk.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
