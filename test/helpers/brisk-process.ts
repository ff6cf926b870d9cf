/**
 * `brisk start` as a child process, for tests that need a real second gateway, a signal or
 * a kill: its output captured, and a wait until one of its listeners answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePort } from './free-port.js';

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

/**
 * Starts `count` Brisk processes in front of `backendUrl`, each with one route `api`
 * (`/api…`) under a route-wide rate limit kept in Redis: the setup of the tests that
 * prove a limit shared across gateway processes. `redis` is the YAML flow mapping of the
 * route's `redis` key.
 */
export async function startRateLimitedGateways(
  dir: string,
  count: number,
  options: { backendUrl: string; redis: string; rate: number; per: string; burst: number },
): Promise<{ brisk: BriskProcess; port: number }[]> {
  const out: { brisk: BriskProcess; port: number }[] = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const file = join(dir, `gw${i}.yaml`);
    writeFileSync(
      file,
      [
        `listen: [{ address: "127.0.0.1:${port}" }]`,
        'logging: { accessLog: false, format: json, level: warn }',
        `upstreams: { app: { targets: [{ url: "${options.backendUrl}" }] } }`,
        'routes:',
        '  - name: api',
        '    match: { pathPrefix: /api }',
        '    upstream: app',
        '    rateLimit:',
        '      store: redis',
        `      redis: ${options.redis}`,
        '      onStoreError: allow',
        `      limits: [{ name: global, rate: ${options.rate}, per: ${options.per}, burst: ${options.burst}, key: route }]`,
        '',
      ].join('\n'),
    );
    const brisk = spawnBrisk(file);
    out.push({ brisk, port });
    await waitAnswering(brisk, port, '/__probe');
  }
  return out;
}
