#!/usr/bin/env node
/**
 * `npm test`: install and build if needed, make sure the services the integration tests
 * use (redis-server, PostgreSQL, promtool from the `prometheus` package) are installed,
 * then run every compiled test file with Node's test runner: the gateway's (dist/src,
 * dist/test) and each workspace package's (packages/NAME/dist/src, dist/test). Files
 * named `*.solo.test.js` run last, one at a time (they load the machine on purpose).
 *
 *   npm test                        # everything
 *   npm test -- router config       # only files whose path contains "router" or "config"
 *   npm test -- --test-name-pattern=reload   # options starting with "-" go to node --test
 *
 * The services are only installed here, never started: each test starts its own on a
 * free loopback port (test/helpers/servers.ts) and stops it afterwards.
 *
 * Environment:
 *   BRISK_TEST_FILE_TIMEOUT_MS=300000   time limit of one test FILE: Node 20 applies
 *                                       --test-timeout to each file as a whole, not to
 *                                       each test (give slow tests their own `timeout`)
 *   BRISK_TEST_CONCURRENCY=2            test files run at once (the machine has 2 cores)
 *   BRISK_NO_INSTALL=1                  never run apt-get, even as root
 *   BRISK_UPSTREAM_TRANSPORT=undici     every upstream without its own pool.transport uses
 *                                       undici's Pool instead of the lean transport (the default)
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { delimiter, join, relative } from 'node:path';
import { ensureReady, ROOT, workspacePackages } from './ensure.mjs';

function say(message) {
  process.stdout.write(`[brisk] ${message}\n`);
}

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Full path of a program on PATH, or undefined. */
function which(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Directory of the newest PostgreSQL server binaries (Debian layout first), or undefined. */
function findPostgresBin() {
  const fromEnv = process.env.BRISK_POSTGRES_BIN;
  if (fromEnv && isExecutable(join(fromEnv, 'postgres'))) return fromEnv;
  const base = '/usr/lib/postgresql';
  let versions = [];
  try {
    versions = readdirSync(base).filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a));
  } catch {
    // not the Debian layout
  }
  for (const version of versions) {
    const bin = join(base, version, 'bin');
    if (isExecutable(join(bin, 'postgres')) && isExecutable(join(bin, 'initdb'))) return bin;
  }
  const onPath = which('postgres');
  if (onPath && isExecutable(join(onPath, '..', 'initdb'))) return join(onPath, '..');
  return undefined;
}

function findRedisServer() {
  const fromEnv = process.env.BRISK_REDIS_SERVER;
  if (fromEnv && isExecutable(fromEnv)) return fromEnv;
  return which('redis-server');
}

/**
 * Installs redis-server, PostgreSQL and wrk (and `prometheus` for promtool) with apt-get
 * when redis-server, PostgreSQL or promtool is missing and we may (root, Debian-like).
 * Never fails the run: tests that need a missing service skip with their reason (those
 * needing promtool fail as root, where this should have installed it).
 */
function ensureServices() {
  let redis = findRedisServer();
  let postgres = findPostgresBin();
  let promtool = findPromtool();
  // Sentinel runs as `redis-server --sentinel` (the Debian package redis-sentinel adds its
  // service); etcd (etcd-server) backs the config store and the multinode proof.
  let etcd = which('etcd');
  if (redis && postgres && promtool && etcd) {
    say(`services: redis-server at ${redis}, PostgreSQL at ${postgres}, promtool at ${promtool}`);
    return { redis, postgres, promtool };
  }
  const missing = [!redis && 'redis-server', !postgres && 'PostgreSQL', !promtool && 'promtool', !etcd && 'etcd'].filter(Boolean).join(' and ');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = which('apt-get') !== undefined;

  if (isRoot && hasApt && process.env.BRISK_NO_INSTALL !== '1') {
    say(`services: ${missing} not found; installing with apt-get (once; the integration tests use them)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    const install =
      update.status === 0
        ? spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server', 'redis-sentinel', 'postgresql', 'wrk', ...(etcd ? [] : ['etcd-server']), ...(promtool ? [] : ['prometheus']), ...(findChromium() ? [] : ['chromium'])], { stdio: 'inherit', env })
        : update;
    if (install.status !== 0) say('services: apt-get failed (output above); tests that need these services will be skipped (those needing promtool fail as root)');
    redis = findRedisServer();
    postgres = findPostgresBin();
    promtool = findPromtool();
    etcd = which('etcd');
  } else {
    const how = hasApt ? 'sudo apt-get install redis-server postgresql prometheus' : 'install redis-server, PostgreSQL and Prometheus (promtool) with your package manager (brew install redis postgresql prometheus, ...)';
    say(`services: ${missing} not found; the tests that need ${[redis, postgres, promtool].filter(Boolean).length === 2 ? 'it' : 'them'} will be skipped. To run them too: ${how}`);
  }
  say(`services: redis-server ${redis ? `at ${redis}` : 'missing'}, PostgreSQL ${postgres ? `at ${postgres}` : 'missing'}, promtool ${promtool ? `at ${promtool}` : 'missing'}`);
  return { redis, postgres, promtool };
}

/** promtool (Debian package `prometheus`): checks the /metrics output and the alert rules. */
function findPromtool() {
  const fromEnv = process.env.BRISK_PROMTOOL;
  if (fromEnv && isExecutable(fromEnv)) return fromEnv;
  return which('promtool');
}

function findChromium() {
  const fromEnv = process.env.BRISK_CHROMIUM;
  if (fromEnv && isExecutable(fromEnv)) return fromEnv;
  return which('chromium') ?? which('chromium-browser');
}

/**
 * Installs Debian's chromium with apt-get when it is missing and we may (root, Debian-like),
 * for the dashboard's browser tests (playwright-core drives it; it downloads no browser).
 * Never fails the run here: the browser tests skip without it, or fail as root in CI.
 */
function ensureChromium() {
  let chromium = findChromium();
  if (chromium) {
    say(`browser: chromium at ${chromium}`);
    return chromium;
  }
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = which('apt-get') !== undefined;
  if (isRoot && hasApt && process.env.BRISK_NO_INSTALL !== '1') {
    say('browser: chromium not found; installing it with apt-get (once; the dashboard tests use it)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    const install = update.status === 0 ? spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { stdio: 'inherit', env }) : update;
    if (install.status !== 0) say('browser: apt-get failed (output above)');
    chromium = findChromium();
  } else {
    say(`browser: chromium not found; the dashboard's browser tests will be skipped. To run them too: ${hasApt ? 'sudo apt-get install chromium' : 'install Chromium and set BRISK_CHROMIUM to its binary'}`);
  }
  say(`browser: chromium ${chromium ? `at ${chromium}` : 'missing'}`);
  return chromium;
}

/**
 * Compiled test files under dist/src and dist/test (and each workspace package's
 * packages/NAME/dist/src and dist/test) whose TypeScript source still exists: tsc never
 * deletes outputs, so the .js of a removed test would run forever.
 */
function findTestFiles() {
  const files = [];
  for (const base of [ROOT, ...workspacePackages()]) files.push(...findTestFilesIn(base));
  return files.sort();
}

function findTestFilesIn(base) {
  const files = [];
  for (const top of ['src', 'test']) {
    const stack = [join(base, 'dist', top)];
    while (stack.length > 0) {
      const dir = stack.pop();
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const entry of entries) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) stack.push(path);
        else if (entry.name.endsWith('.test.js')) {
          const source = join(base, relative(join(base, 'dist'), path)).replace(/\.js$/, '.ts');
          if (existsSync(source)) files.push(path);
        }
      }
    }
  }
  return files;
}

function main() {
  // A literal `--` (as in `node scripts/test.mjs -- x`) separates nothing here.
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const nodeOptions = args.filter((a) => a.startsWith('-'));
  const filters = args.filter((a) => !a.startsWith('-'));

  ensureReady();
  const services = ensureServices();
  const chromium = ensureChromium();

  const all = findTestFiles();
  const files = filters.length === 0 ? all : all.filter((f) => filters.some((needle) => relative(ROOT, f).includes(needle)));
  if (files.length === 0) {
    if (filters.length > 0) {
      process.stderr.write(`[brisk] no test file matches ${filters.map((f) => JSON.stringify(f)).join(' or ')} (among ${all.length})\n`);
      process.exit(1);
    }
    process.stderr.write('[brisk] no test files found under dist/src, dist/test or packages/*/dist\n');
    process.exit(1);
  }

  // A hung test must not hold CI until its global limit; a whole file may take a while.
  const timeout = process.env.BRISK_TEST_FILE_TIMEOUT_MS ?? '300000';
  const concurrency = process.env.BRISK_TEST_CONCURRENCY ?? '2';
  // `*.solo.test.js` files load the machine on purpose (the service toolkit's proof: a
  // PostgreSQL failover under 1,000 requests/s). They run after the others, one at a
  // time, so neither they nor the timing-sensitive tests beside them measure each other.
  const solo = files.filter((f) => f.endsWith('.solo.test.js'));
  const shared = files.filter((f) => !f.endsWith('.solo.test.js'));
  say(`running ${files.length} test file${files.length === 1 ? '' : 's'}${filters.length > 0 ? ` matching ${filters.join(', ')}` : ''}${solo.length > 0 && shared.length > 0 ? ` (${solo.length} of them alone, at the end)` : ''}`);

  const env = { ...process.env, BRISK_TEST: '1' };
  // Tell the helpers what was found here so they need not search again.
  if (services.redis) env.BRISK_REDIS_SERVER = services.redis;
  if (services.postgres) env.BRISK_POSTGRES_BIN = services.postgres;
  if (chromium) env.BRISK_CHROMIUM = chromium;
  if (services.promtool) env.BRISK_PROMTOOL = services.promtool;

  const runs = [
    [shared, concurrency],
    [solo, '1'],
  ].filter(([list]) => list.length > 0);
  const totals = { pass: 0, fail: 0, skipped: 0 };
  let failed = false;
  let current;
  const forward = (signal) => {
    if (current !== undefined && current.exitCode === null && current.signalCode === null) current.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);

  const runNext = (index) => {
    if (index >= runs.length) {
      // One closing line for the whole run when it took two runners.
      if (runs.length > 1) process.stdout.write(`\ntests: ${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped\n`);
      process.exit(failed ? 1 : 0);
    }
    const [list, fileConcurrency] = runs[index];
    const nodeArgs = ['--test', '--test-reporter=spec', `--test-concurrency=${fileConcurrency}`, `--test-timeout=${timeout}`, ...nodeOptions, ...list];
    const child = spawn(process.execPath, nodeArgs, { cwd: ROOT, stdio: ['inherit', 'pipe', 'inherit'], env });
    current = child;
    const failsBefore = totals.fail;
    let pending = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      const lines = (pending + chunk.toString('utf8')).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^\S+ (pass|fail|skipped) (\d+)\s*$/.exec(line.replace(/\x1b\[[0-9;]*m/g, ''));
        if (m) totals[m[1]] += Number(m[2]);
      }
    });
    child.on('exit', (code, signal) => {
      if (signal) {
        process.stderr.write(`[brisk] the test runner was stopped by ${signal}\n`);
        process.exit(1);
      }
      if (code !== 0) {
        failed = true;
        // A file that failed outside its tests (a crash, an unsettled promise) counts too.
        if (totals.fail === failsBefore) totals.fail++;
      }
      runNext(index + 1);
    });
  };
  runNext(0);
}

main();
