#!/usr/bin/env node
/**
 * Runs the demo shop: three "products" instances, one "users" and one "orders" service as child
 * processes, and Brisk in front of them with examples/demo/brisk.yaml. `npm start`
 * calls this after installing and building.
 *
 *   node examples/demo/run.mjs                  # backends + gateway
 *   node examples/demo/run.mjs --backends-only  # backends only (run the gateway yourself)
 *
 * Ctrl-C or SIGTERM stops everything: the gateway drains, the services stop, exit 0.
 * Node built-ins only.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const DEMO_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = join(DEMO_DIR, '..', '..');
const CONFIG = join(DEMO_DIR, 'brisk.yaml');
const GATEWAY_ENTRY = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const HOST = '127.0.0.1';

// Must agree with brisk.yaml.
const GATEWAY_PORT = 8080;
const ADMIN_PORT = 9901;
const SERVICES = [
  { name: 'products-1', script: 'products.mjs', port: 7101, instance: '1' },
  { name: 'products-2', script: 'products.mjs', port: 7102, instance: '2' },
  { name: 'products-3', script: 'products.mjs', port: 7103, instance: '3' },
  { name: 'users-1', script: 'users.mjs', port: 7201, instance: '1' },
  { name: 'orders-1', script: 'orders.mjs', port: 7301, instance: '1' },
  // A stand-in IM group: prints the alerts brisk.yaml sends it.
  { name: 'alerts', script: 'alerts.mjs', port: 7401, instance: '1' },
];

/** Longer than the gateway's default drain (proxy.drainTimeout, 10 s). */
const STOP_GRACE_MS = 12_000;

const useColor = process.stdout.isTTY && !process.env.NO_COLOR;
const bold = (s) => (useColor ? `\x1b[1m${s}\x1b[22m` : s);
const dim = (s) => (useColor ? `\x1b[2m${s}\x1b[22m` : s);
const cyan = (s) => (useColor ? `\x1b[36m${s}\x1b[39m` : s);

function say(message) {
  process.stdout.write(`[demo] ${message}\n`);
}

/** Whether host:port can be bound right now, i.e. nobody else listens there. */
function canBind(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: HOST, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Resolves true once the port accepts, false when `gaveUp()` says so or time runs out. */
async function waitForPort(port, timeoutMs, gaveUp = () => false) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gaveUp()) return false;
    if (await accepts(port)) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

function hasExited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Copies a child's output line by line, each line tagged with the child's name. */
function prefixOutput(stream, name, target) {
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => target.write(`${dim(`[${name}]`)} ${line}\n`));
}

/**
 * Starts the demo and resolves when everything has stopped again (after Ctrl-C or
 * SIGTERM, or when the gateway exits by itself) with the exit code to use.
 * @param {{ backendsOnly?: boolean }} [options]
 * @returns {Promise<number>}
 */
export async function runDemo(options = {}) {
  const backendsOnly = options.backendsOnly ?? false;

  if (!backendsOnly && !existsSync(GATEWAY_ENTRY)) {
    process.stderr.write(
      `[demo] the gateway is not built: ${relative(process.cwd(), GATEWAY_ENTRY)} is missing.\n` +
        '[demo] `npm start` builds it first; or run `npm run build`.\n',
    );
    return 1;
  }

  // Check every port before starting anything, so a clash is reported plainly
  // instead of as a crash of one of the children.
  const wanted = [
    ...(backendsOnly ? [] : [{ port: GATEWAY_PORT, what: 'the gateway' }, { port: ADMIN_PORT, what: 'the admin API' }]),
    ...SERVICES.map((s) => ({ port: s.port, what: `the ${s.name} service` })),
  ];
  const taken = [];
  for (const { port, what } of wanted) if (!(await canBind(port))) taken.push({ port, what });
  if (taken.length > 0) {
    for (const { port, what } of taken) process.stderr.write(`[demo] port ${HOST}:${port} (for ${what}) is already in use.\n`);
    process.stderr.write(
      '[demo] Another demo may still be running (stop it with Ctrl-C), or another program uses the port:\n' +
        `[demo]   see who: ss -ltnp | grep -E ':(${taken.map((t) => t.port).join('|')})\\b'\n` +
        `[demo]   or change the addresses in ${relative(process.cwd(), CONFIG)} (and the ports at the top of examples/demo/run.mjs).\n`,
    );
    return 1;
  }

  /** @type {{ name: string, child: import('node:child_process').ChildProcess }[]} */
  const children = [];
  let stopping = false;
  let gatewayExit;

  const stopAll = async (reason) => {
    if (stopping) return;
    stopping = true;
    if (reason) say(reason);
    // Children run in their own process group (see spawnChild), so a Ctrl-C in the
    // terminal reaches only us, and each child gets exactly one signal from here.
    // The gateway goes first: while it drains, the requests in flight still need the
    // services behind it.
    const gateway = children.filter((c) => c.name === 'gateway');
    const services = children.filter((c) => c.name !== 'gateway');
    for (const group of [gateway, services]) {
      for (const { child } of group) if (!hasExited(child)) child.kill('SIGTERM');
      const deadline = Date.now() + STOP_GRACE_MS;
      while (group.some(({ child }) => !hasExited(child)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      for (const { name, child } of group) {
        if (!hasExited(child)) {
          say(`${name} did not stop within ${STOP_GRACE_MS / 1000} s; killing it`);
          child.kill('SIGKILL');
        }
      }
    }
  };

  const spawnChild = (name, args, env, stdio) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio,
      detached: process.platform !== 'win32',
    });
    children.push({ name, child });
    child.once('exit', (code, signal) => {
      if (!stopping) say(`${name} (pid ${child.pid}) exited ${signal ? `on ${signal}` : `with code ${code}`}`);
    });
    return child;
  };

  // Last resort: never leave children behind when this process goes away.
  const killLeftovers = () => {
    for (const { child } of children) if (!hasExited(child)) child.kill('SIGKILL');
  };
  process.once('exit', killLeftovers);

  let resolveSignal;
  let receivedSignal;
  const signalled = new Promise((resolve) => (resolveSignal = resolve));
  const onSignal = (signal) => {
    receivedSignal ??= signal;
    if (stopping) {
      say(`${signal} again: killing everything now`);
      killLeftovers();
      process.exit(0);
    }
    resolveSignal(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  try {
    for (const service of SERVICES) {
      const child = spawnChild(service.name, [join(DEMO_DIR, 'services', service.script)], { PORT: String(service.port), INSTANCE: service.instance, HOST }, ['ignore', 'pipe', 'pipe']);
      prefixOutput(child.stdout, service.name, process.stdout);
      prefixOutput(child.stderr, service.name, process.stderr);
    }
    const interrupted = async () => {
      await stopAll(`${receivedSignal} during start-up: stopping everything`);
      return 0;
    };
    for (const service of SERVICES) {
      const { child } = children.find((c) => c.name === service.name);
      if (!(await waitForPort(service.port, 10_000, () => hasExited(child) || receivedSignal !== undefined))) {
        if (receivedSignal !== undefined) return await interrupted();
        await stopAll(`${service.name} did not start on ${HOST}:${service.port}; stopping`);
        return 1;
      }
    }

    if (!backendsOnly) {
      say(`starting the gateway: node ${relative(ROOT, GATEWAY_ENTRY)} start --config ${relative(ROOT, CONFIG)}`);
      // Relative paths (the child runs in the repository root) keep the gateway's log lines short.
      const gateway = spawnChild('gateway', [relative(ROOT, GATEWAY_ENTRY), 'start', '--config', relative(ROOT, CONFIG)], {}, 'inherit');
      gatewayExit = new Promise((resolve) => gateway.once('exit', (code, signal) => resolve({ code, signal })));
      if (!(await waitForPort(GATEWAY_PORT, 30_000, () => hasExited(gateway) || receivedSignal !== undefined))) {
        if (receivedSignal !== undefined) return await interrupted();
        const why = hasExited(gateway)
          ? `the gateway exited with code ${gateway.exitCode ?? gateway.signalCode} before listening (its output is above)`
          : `the gateway did not accept connections on ${HOST}:${GATEWAY_PORT} within 30 s`;
        await stopAll(`${why}; stopping the services`);
        return 1;
      }
    }

    printBanner(backendsOnly, children);

    const outcome = await Promise.race([
      signalled.then((signal) => ({ signal })),
      ...(gatewayExit ? [gatewayExit.then((exit) => ({ gatewayExit: exit }))] : []),
    ]);
    if ('signal' in outcome) {
      await stopAll(`${outcome.signal}: stopping ${backendsOnly ? 'the services' : 'the gateway (it drains in-flight requests) and the services'}`);
      say('stopped');
      return 0;
    }
    const { code, signal } = outcome.gatewayExit;
    await stopAll(`the gateway stopped by itself (${signal ? `signal ${signal}` : `exit code ${code}`}); stopping the services`);
    return code === 0 ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}

function printBanner(backendsOnly, children) {
  const pid = (name) => children.find((c) => c.name === name)?.child.pid;
  const gw = `${HOST}:${GATEWAY_PORT}`;
  const admin = `${HOST}:${ADMIN_PORT}`;
  const lines = [
    '',
    bold(backendsOnly ? 'Brisk demo services are running (no gateway: --backends-only)' : 'Brisk demo is running'),
    '',
    ...(backendsOnly
      ? []
      : [`  ${'gateway'.padEnd(12)}${cyan(`http://${gw}`)}   pid ${pid('gateway')}   config ${relative(process.cwd(), CONFIG) || CONFIG}`, `  ${'admin API'.padEnd(12)}${cyan(`http://${admin}`)}`, `  ${'dashboard'.padEnd(12)}${cyan(`http://${admin}/dashboard`)}   open it in a browser`]),
    ...SERVICES.map((s) => `  ${s.name.padEnd(12)}${HOST}:${s.port}   pid ${pid(s.name)}`),
    '',
  ];
  if (!backendsOnly) {
    const tryLines = [
      [`curl -s ${gw}/api/products | grep servedBy`, 'a few times: products-1, -2, -3 take turns (-3 has weight 2)'],
      [`curl ${gw}/api/products/2`, 'one product'],
      [`curl -i -X POST -H 'content-type: application/json' -d '{"name":"Mug","price":12}' ${gw}/api/products`, '201 Created'],
      [`curl ${gw}/api/users`, 'the users service'],
      [`curl ${gw}/api/users/whoami`, 'X-Forwarded-For, X-Request-Id, Via as the service got them'],
      [`curl ${gw}/api/orders/1/details`, 'one call, three services: the order with its user and products (an aggregate route)'],
      [`curl ${gw}/api/orders/4/details`, 'its user does not exist: the rest is answered, with an "errors" entry'],
      [`curl -i ${gw}/shop/products/3`, 'rewritten to /api/products/3, answered with x-served-via: brisk'],
      [`curl -N ${gw}/api/products/stream`, 'server-sent events, streamed through as they come'],
      [`curl -i '${gw}/api/products/slow?ms=3000'`, 'a 504 from Brisk: 2 s per try, 2.5 s in all'],
      [`curl -i ${gw}/nowhere`, 'a 404 from Brisk with an error code and request id'],
      [`curl ${admin}/api/upstreams`, 'upstreams, targets and their health'],
      [`curl ${admin}/api/routes`, 'the compiled routes'],
      [`curl -X POST ${admin}/api/reload`, 're-read brisk.yaml (edit it first); bad files are refused'],
      [`kill ${pid('products-2')}`, 'stop products-2, then curl again: nothing fails (retried elsewhere, ejected; /api/upstreams says why)'],
      [`kill ${pid('users-1')}`, 'stop users-1: a few seconds later [alerts] prints the target-unhealthy and no-healthy-target alerts'],
      [`curl ${admin}/api/alerts`, 'alerts pending, firing and recently resolved; silence one with POST /api/silences (docs/alerting.md)'],
    ];
    lines.push(bold('Try:'));
    for (const [command, note] of tryLines) lines.push(`  ${command}`, `      ${dim(`# ${note}`)}`);
    lines.push('');
  }
  lines.push(`Ctrl-C stops everything.`, '');
  process.stdout.write(lines.join('\n') + '\n');
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const unknown = process.argv.slice(2).filter((a) => a !== '--backends-only');
  if (unknown.length > 0) {
    process.stderr.write(`[demo] unknown argument ${unknown[0]}; usage: node examples/demo/run.mjs [--backends-only]\n`);
    process.exit(2);
  }
  const code = await runDemo({ backendsOnly: process.argv.includes('--backends-only') });
  process.exit(code);
}
