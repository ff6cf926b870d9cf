import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { stringify } from 'yaml';
import { Gateway } from '../../src/gateway/gateway.js';

/** A gateway started in this process for a test, on port 0, with its log captured. */
export interface TestGateway {
  readonly gw: Gateway;
  /** `http://127.0.0.1:PORT` of the first listener. */
  readonly url: string;
  readonly port: number;
  /** Ports of every listener, in config order. */
  readonly ports: readonly number[];
  /** `http://127.0.0.1:PORT` of the admin API (when the config has none, one is added). */
  readonly adminUrl: string;
  /** The config file on disk (rewrite it to test reloads). */
  readonly file: string;
  /** Every log line so far, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Rewrites the config file (object or YAML text). */
  writeConfig(config: object | string): void;
  stop(): Promise<void>;
}

/**
 * Starts a gateway from a config object or YAML text. Listener and admin addresses default
 * to 127.0.0.1:0; `watch` is off unless asked for, so tests reload explicitly.
 */
export async function startGateway(config: object | string, options: { watch?: boolean } = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'brisk-test-'));
  const file = join(dir, 'brisk.yaml');
  const write = (c: object | string) => writeFileSync(file, typeof c === 'string' ? c : stringify(withDefaults(c)));
  write(config);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = pino({ level: 'debug', formatters: { level: (label) => ({ level: label }) } }, sink);
  const gw = await Gateway.start({ configFile: file, watch: options.watch ?? false, logger });
  const ports = gw.listeners.map((l) => l.port);
  return {
    gw,
    url: `http://127.0.0.1:${ports[0]}`,
    port: ports[0]!,
    ports,
    adminUrl: `http://127.0.0.1:${gw.admin?.port ?? 0}`,
    file,
    logs,
    writeConfig: write,
    async stop() {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function withDefaults(c: object): object {
  const cfg = { ...(c as Record<string, unknown>) };
  cfg['listen'] ??= [{ address: '127.0.0.1:0' }];
  cfg['admin'] ??= { address: '127.0.0.1:0' };
  // BRISK_TEST_WORKERS=2 runs a test file's gateways with data-plane workers (a test that
  // only talks HTTP to the gateway and the admin API must pass either way).
  const workers = process.env['BRISK_TEST_WORKERS'];
  if (workers !== undefined && workers !== '') cfg['workers'] ??= Number(workers);
  return cfg;
}

/** A minimal config: one upstream `app` with the given target URLs, one catch-all route. */
export function simpleConfig(targets: readonly string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    upstreams: { app: { targets: targets.map((url) => ({ url })) } },
    routes: [{ name: 'all', match: { pathPrefix: '/' }, upstream: 'app' }],
    ...extra,
  };
}
