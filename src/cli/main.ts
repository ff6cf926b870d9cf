#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BriskError } from '../core/errors.js';
import type { Gateway } from '../gateway/gateway.js';

/**
 * V8's compile cache on disk (`module.enableCompileCache`, Node 22.1 and later): a start
 * after the first skips compiling the modules it loads, most of what a start spends. It must
 * be on before they load, which is why the gateway is imported by `start` and not above.
 * Node 20 has none, and nothing happens. Node's own `NODE_COMPILE_CACHE` (the directory;
 * default: the temporary directory's `node-compile-cache`) and `NODE_DISABLE_COMPILE_CACHE`
 * apply.
 */
function enableCompileCache(): void {
  const enable = (nodeModule as unknown as { enableCompileCache?: () => unknown }).enableCompileCache;
  if (typeof enable !== 'function') return;
  try {
    enable();
  } catch {
    // A cache that cannot be written only means slower starts.
  }
}
enableCompileCache();

const HELP = `brisk — a self-hosted traffic layer

Usage:
  brisk start --config FILE   run the gateway (SIGHUP or a file change reloads, SIGUSR1 reopens the access log file, SIGUSR2 restarts the workers one by one, SIGTERM/SIGINT drains and stops)
        [--workers N|auto]    data-plane worker processes sharing the listeners (default: workers in the file, else 1; auto: the CPUs available)
  brisk workers [--json]      the workers of a running Brisk: pid, state, config version, requests and share, heartbeat, restarts
  brisk restart               rolling restart of the workers, no request failed (waits until done)
  brisk reload                re-read the config now; prints the version each worker serves
  brisk check --config FILE   validate a config: exit 0 when valid, else 1 and one line per problem
  brisk schema                print the JSON Schema of the config file
  brisk config push FILE      check a config store document (routes, upstreams, defaults) against the
                              node config, then publish it to etcd (configStore); --dry-run checks only
  brisk probe                 readiness probe for systemd, Docker and Kubernetes: exit 0 when the admin
                              API's /readyz says ready, 1 otherwise (--admin HOST:PORT, --timeout MS, --wait)
  brisk services [NAME]       the services Brisk runs: instances with pid, port, state, uptime, RSS, CPU, restarts and why
  brisk services restart NAME [--instance N]   rolling restart, each replacement ready before the old instance drains
  brisk services scale NAME COUNT|auto         set the instance count, or hand it back to the autoscaler
  brisk hash-key [--scrypt]   read a secret from stdin, print its hash for auth.apiKeys / auth.basic
                              (sha256 for generated API keys; --scrypt for passwords)
  brisk --version | --help

Options:
  -c, --config FILE   the config file (default: brisk.yaml, or $BRISK_CONFIG)
  --no-watch          do not reload when the config file changes
  --admin HOST:PORT   services: the admin API to ask (default: admin.address of the config; token from $BRISK_ADMIN_TOKEN)
  --json              services, workers, restart, reload: print JSON
  --etcd URL,URL      config push: etcd endpoints instead of configStore's
  --key KEY           config push: the key instead of configStore's
  --dry-run           config push: check only
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Runs the CLI; resolves to the exit code (start resolves only when the gateway stops). */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        'no-watch': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        scrypt: { type: 'boolean' },
        admin: { type: 'string' },
        json: { type: 'boolean' },
        instance: { type: 'string' },
        workers: { type: 'string' },
        etcd: { type: 'string' },
        key: { type: 'string' },
        'dry-run': { type: 'boolean' },
        wait: { type: 'boolean' },
        timeout: { type: 'string' },
      },
    });
  } catch (err) {
    process.stderr.write(`brisk: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version === true) {
    process.stdout.write(`brisk ${version()}\n`);
    return 0;
  }
  const command = positionals[0];
  if (values.help === true || command === undefined || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined && values.help !== true ? 2 : 0;
  }
  const configFile = resolve(values.config ?? process.env['BRISK_CONFIG'] ?? 'brisk.yaml');
  // Each command's module is imported when it runs: `brisk start` loads none of the others'.
  switch (command) {
    case 'check': {
      const { runCheck } = await import('./check.js');
      return runCheck(configFile, process.stdout, process.stderr);
    }
    case 'schema': {
      const { schemaJson } = await import('./schema.js');
      process.stdout.write(schemaJson() + '\n');
      return 0;
    }
    case 'start': {
      const w = values.workers;
      if (w !== undefined && w !== 'auto' && !/^[1-9]\d{0,2}$/.test(w)) {
        process.stderr.write(`brisk: --workers takes a count from 1 to 256 or "auto", not "${w}"\n`);
        return 2;
      }
      return start(configFile, values['no-watch'] !== true, w === undefined ? undefined : w === 'auto' ? 'auto' : Number(w));
    }
    case 'workers':
    case 'restart':
    case 'reload': {
      const { runWorkersCommand } = await import('./workers.js');
      return runWorkersCommand(command, { config: configFile, json: values.json === true, ...(values.admin === undefined ? {} : { admin: values.admin }) }, process.stdout, process.stderr);
    }
    case 'hash-key':
      return hashKey(values.scrypt === true);
    case 'config': {
      if (positionals[1] !== 'push') {
        process.stderr.write(`brisk config: unknown subcommand ${JSON.stringify(positionals[1] ?? '')}; try \`brisk config push FILE\`\n`);
        return 2;
      }
      const { runConfigPush } = await import('./config-push.js');
      return runConfigPush(positionals[2], { config: configFile, ...(values.etcd === undefined ? {} : { etcd: values.etcd }), ...(values.key === undefined ? {} : { key: values.key }), dryRun: values['dry-run'] === true }, process.stdout, process.stderr);
    }
    case 'probe': {
      const { runProbe } = await import('./probe.js');
      return runProbe({ config: configFile, ...(values.admin === undefined ? {} : { admin: values.admin }), ...(values.timeout === undefined ? {} : { timeoutMs: Number(values.timeout) }), wait: values.wait === true }, process.stdout, process.stderr);
    }
    case 'services': {
      const { runServices } = await import('./services.js');
      return runServices(positionals.slice(1), { config: configFile, json: values.json === true, ...(values.admin === undefined ? {} : { admin: values.admin }), ...(values.instance === undefined ? {} : { instance: values.instance }) }, process.stdout, process.stderr);
    }
    default:
      process.stderr.write(`brisk: unknown command "${command}"\n\n${HELP}`);
      return 2;
  }
}

/** Reads a secret from stdin (never from argv: it would land in shell history and `ps`). */
async function hashKey(scrypt: boolean): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const secret = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (secret === '') {
    process.stderr.write('brisk hash-key: no secret on stdin; e.g. `printf %s "$KEY" | brisk hash-key`\n');
    return 2;
  }
  const { hashSecret } = await import('../middlewares/auth/secrets.js');
  process.stdout.write(hashSecret(secret, scrypt ? 'scrypt' : 'sha256') + '\n');
  return 0;
}

async function start(configFile: string, watch: boolean, workers: number | 'auto' | undefined): Promise<number> {
  const { ConfigError, Gateway } = await import('../gateway/gateway.js');
  let gw: Gateway;
  try {
    gw = await Gateway.start({ configFile, watch, ...(workers === undefined ? {} : { workers }) });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`brisk: ${err.problems.length} problem(s) in the configuration; nothing was started:\n`);
      process.stderr.write(err.message.split('\n').slice(1).join('\n') + '\n');
    } else if (err instanceof BriskError) {
      process.stderr.write(`brisk: ${err.code}: ${err.message}\n`);
    } else {
      process.stderr.write(`brisk: failed to start: ${(err as Error).stack ?? String(err)}\n`);
    }
    return 1;
  }
  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        gw.logger.warn({ signal }, 'second signal: exiting now');
        resolveExit(1);
        return;
      }
      stopping = true;
      gw.logger.info({ signal }, 'shutting down');
      gw.stop().then(
        () => resolveExit(0),
        (err: unknown) => {
          gw.logger.error({ err }, 'error while stopping');
          resolveExit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // nginx's convention: after an external logrotate moved the access log file, reopen it by its path.
    process.on('SIGUSR1', () => gw.reopenLogs());
    // As unicorn and pm2 reload: every worker replaced, one after the other, no request failed.
    process.on('SIGUSR2', () => {
      gw.logger.info('SIGUSR2: rolling restart of the workers');
      void gw.restartWorkers().then((done) => {
        if (!done) gw.logger.warn('SIGUSR2: one process, no workers to restart');
      });
    });
    process.on('SIGHUP', () => {
      gw.logger.info('SIGHUP: reloading the config');
      void gw.reload();
    });
    // A bug in a rare path must not take every other connection down with it.
    process.on('uncaughtException', (err) => gw.logger.fatal({ err }, 'uncaught exception (kept running)'));
    process.on('unhandledRejection', (err) => gw.logger.error({ err }, 'unhandled rejection'));
  });
}

/**
 * Exits once stdout and stderr have flushed: on a pipe, writes are asynchronous and a
 * plain process.exit would cut `brisk schema` or `brisk check` output short.
 */
export function exitAfterFlush(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

const isEntry = process.argv[1] !== undefined && import.meta.url === new URL(`file://${resolve(process.argv[1])}`).href;
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => exitAfterFlush(code),
    (err: unknown) => {
      process.stderr.write(`brisk: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
