// The proxies under test, each configured for its best failover in front of the same three
// backends: how to write its config, start it, and watch which backend it sends tries to.
//
// Watching from the proxy's side is needed for one question only: where a crashed backend
// (SIGKILL) would have been sent traffic — nothing is left to count it on the backend.
// Brisk and HAProxy are polled (admin API, stats CSV) every 50 ms; NGINX open source has
// no per-server counters, but its access log lists every server a request was tried on.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { epochMs, freePort, hasCommand, ROOT, sleep, startProcess } from './processes.mjs';

/** The failover settings shared by every proxy, so that the configs stay comparable. */
export const FAILOVER = {
  healthIntervalMs: 1000,
  healthTimeoutMs: 500,
  unhealthyThreshold: 2,
  healthyThreshold: 1, // one good probe brings a target back (marking down still takes two)
  /** Per-try wait for response headers before trying another backend. */
  perTryTimeoutMs: 300,
  connectTimeoutMs: 250,
  /** Consecutive connect failures / resets / timeouts that take a backend out. */
  consecutiveGatewayFailures: 2,
  consecutive5xx: 3,
  ejectionMs: 5000,
  slowStartMs: 1000,
  retries: 2,
};

const POLL_MS = 50;

/**
 * A Brisk case: Brisk run from a snapshot of dist/ with the config `config()` writes.
 * Several cases (tuned, defaults) share one snapshot per chaos run.
 */
function briskCase({ id, label, describe, config }) {
  return {
    id,
    label,
    describe,
    brisk: true,
    unavailable: () => (fs.existsSync(path.join(ROOT, 'dist/src/cli/main.js')) ? null : 'dist/src/cli/main.js not built (run `npm run build`)'),
    version: () => `brisk ${readJson(path.join(ROOT, 'package.json'))?.version ?? '?'}${gitRev()}`,
    async prepare(workDir) {
      this.main = await briskSnapshot(workDir);
    },
    async start({ dir, port, backends, cpus, hedge }) {
      const adminPort = await freePort();
      const configPath = path.join(dir, 'brisk.yaml');
      fs.writeFileSync(configPath, config({ port, adminPort, backends, hedge }));
      const handle = startProcess({
        name: id,
        cmd: process.execPath,
        args: [this.main ?? path.join(ROOT, 'dist/src/cli/main.js'), 'start', '--config', configPath, '--no-watch'],
        cpus,
        cwd: ROOT,
        env: { NODE_ENV: 'production' },
        logPath: path.join(dir, 'brisk.stderr.log'),
        stdoutPath: path.join(dir, 'brisk.log'),
      });
      return { handle, configPath, observer: pollingObserver(() => briskTargets(adminPort, backends)) };
    },
  };
}

/** workDir → the snapshot's promise: taken once per chaos run, whichever Brisk case asks first. */
const snapshots = new Map();

/**
 * Brisk runs from a copy of dist/ taken once per chaos run: others rebuild dist/ in the
 * same checkout, and a gateway started from a half-written build fails, or differs from
 * one scenario to the next. Resolves to the copy's CLI entry point.
 */
function briskSnapshot(workDir) {
  let p = snapshots.get(workDir);
  if (p === undefined) {
    p = takeSnapshot(workDir);
    snapshots.set(workDir, p);
    p.catch(() => snapshots.delete(workDir));
  }
  return p;
}

async function takeSnapshot(workDir) {
  const snap = path.join(workDir, 'brisk-build');
  for (let attempt = 1; ; attempt++) {
    fs.rmSync(snap, { recursive: true, force: true });
    fs.mkdirSync(snap, { recursive: true });
    fs.cpSync(path.join(ROOT, 'dist'), path.join(snap, 'dist'), { recursive: true, filter: (f) => !/\.(map|d\.ts)$|\.test\.js$/.test(f) });
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(snap, 'package.json'));
    // The checkout's node_modules, also when the work directory is elsewhere (a test's).
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(snap, 'node_modules'), 'dir');
    const main = path.join(snap, 'dist/src/cli/main.js');
    const r = spawnSync(process.execPath, [main, '--version'], { encoding: 'utf8', timeout: 20_000 });
    if (r.status === 0) return main;
    if (attempt === 3) throw new Error(`the build in dist/ does not run: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
    await sleep(3000);
  }
}

export const PROXIES = [
  briskCase({
    id: 'brisk',
    label: 'Brisk',
    describe: 'tuned: active health checks, outlier detection, per-try timeout, slow start',
    config: briskConfig,
  }),
  briskCase({
    id: 'brisk-defaults',
    label: 'Brisk defaults',
    describe: 'the target-only config: one route to three targets, no other key but the harness plumbing',
    config: briskDefaultsConfig,
  }),
  {
    id: 'nginx',
    label: 'NGINX',
    unavailable: () => (hasCommand('nginx') ? null : 'nginx not installed'),
    version: () => firstLine(spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr).replace(/^nginx version:\s*/, '').replace('/', ' '),
    async start({ dir, port, backends, cpus }) {
      const ndir = path.join(dir, 'nginx');
      fs.mkdirSync(path.join(ndir, 'tmp'), { recursive: true });
      const conf = path.join(ndir, 'nginx.conf');
      const accessLog = path.join(ndir, 'access.log');
      fs.writeFileSync(conf, nginxConfig({ dir: ndir, port, backends, accessLog }));
      const handle = startProcess({
        name: 'nginx',
        cmd: 'nginx',
        args: ['-e', path.join(ndir, 'error.log'), '-p', ndir, '-c', conf, '-g', 'daemon off;'],
        cpus,
        logPath: path.join(ndir, 'stderr.log'),
      });
      return { handle, configPath: conf, observer: nginxObserver(accessLog, backends) };
    },
  },
  {
    id: 'haproxy',
    label: 'HAProxy',
    unavailable: () => (hasCommand('haproxy') ? null : 'haproxy not installed'),
    version: () => `haproxy ${firstLine(spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).stdout).replace(/^HAProxy version\s*/, '').replace(/\s.*$/, '')}`,
    async start({ dir, port, backends, cpus }) {
      const statsPort = await freePort();
      const conf = path.join(dir, 'haproxy.cfg');
      fs.writeFileSync(conf, haproxyConfig({ port, statsPort, backends }));
      const handle = startProcess({
        name: 'haproxy',
        cmd: 'haproxy',
        args: ['-f', conf, '-db'],
        cpus,
        logPath: path.join(dir, 'haproxy.stderr.log'),
        stdoutPath: path.join(dir, 'haproxy.log'),
      });
      return { handle, configPath: conf, observer: pollingObserver(() => haproxyServers(statsPort, backends)) };
    },
  },
];

// --- configs -----------------------------------------------------------------------------

const F = FAILOVER;
const dur = (ms) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

/**
 * Brisk: p2c-ewma; active HTTP health checks; outlier detection on consecutive gateway
 * failures and 5xx; 2 retries on another target with a short per-try timeout, within a
 * budget; slow start; hedging as Brisk does by default (`auto`) unless CHAOS_BRISK_HEDGE says
 * otherwise. The access log goes to a file (stdout).
 */
export function briskConfig({ port, adminPort, backends, hedge }) {
  return `# generated by chaos/run.mjs
listen:
  - address: 127.0.0.1:${port}
admin:
  address: 127.0.0.1:${adminPort}
limits:
  keepAliveTimeout: 60s
proxy:
  drainTimeout: 1s
logging:
  level: info
  format: json
  accessLog: true
upstreams:
  chaos:
    balancer: p2c-ewma
    slowStart: ${dur(F.slowStartMs)}
    targets:
${backends.map((b) => `      - url: ${b.url}`).join('\n')}
    healthCheck:
      type: http
      path: /healthz
      interval: ${dur(F.healthIntervalMs)}
      timeout: ${dur(F.healthTimeoutMs)}
      unhealthyThreshold: ${F.unhealthyThreshold}
      healthyThreshold: ${F.healthyThreshold}
    outlierDetection:
      consecutiveGatewayFailures: ${F.consecutiveGatewayFailures}
      consecutive5xx: ${F.consecutive5xx}
      baseEjectionTime: ${dur(F.ejectionMs)}
    retry:
      attempts: ${F.retries}
      statuses: [502, 503, 504]
      perTryTimeout: ${dur(F.perTryTimeoutMs)}
      backoff:
        base: 0ms
      budget:
        ratio: 20
        minPerSecond: 10
    timeouts:
      connect: ${dur(F.connectTimeoutMs)}
      response: 5s
routes:
  - name: all
    match:
      pathPrefix: /
    upstream: chaos
${hedgeKey(hedge)}`;
}

/** The tuned route's `hedge` (CHAOS_BRISK_HEDGE): none (Brisk's default, auto), auto, off, or a block with that delay. */
function hedgeKey(hedge) {
  if (hedge === null || hedge === undefined) return '';
  if (hedge === 'auto' || hedge === 'off') return `    hedge: ${hedge}\n`;
  return `    hedge:\n      delay: ${hedge}\n`;
}

/**
 * Brisk with the config a new user writes first (issue 11): one route, `pathPrefix: /`, to
 * three targets, and no other key but what the harness itself needs — the listen address
 * (a free port), and the admin address (the harness polls its view of the targets, as for
 * the tuned case). With nothing set, `logging` already writes the access log to stdout as
 * JSON when stdout is not a terminal (here a file): no logging key is needed either.
 */
export function briskDefaultsConfig({ port, adminPort, backends }) {
  return `# generated by chaos/run.mjs: the target-only config
listen:                            # harness plumbing: a free port
  - address: 127.0.0.1:${port}
admin:                             # harness plumbing: polled for its view of the targets
  address: 127.0.0.1:${adminPort}
upstreams:
  chaos:
    targets:
${backends.map((b) => `      - url: ${b.url}`).join('\n')}
routes:
  - name: all
    match:
      pathPrefix: /
    upstream: chaos
`;
}

/**
 * NGINX (open source: passive health only): `random two least_conn` (its power-of-two
 * choices), a server is out for `fail_timeout` after `max_fails` failures within it, and
 * errors, timeouts and 502/503/504 go to the next server (never for a POST once sent:
 * `non_idempotent` is not set). Short connect/read timeouts play the per-try timeout.
 */
export function nginxConfig({ dir, port, backends, accessLog }) {
  const runAsRoot = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `# generated by chaos/run.mjs
${runAsRoot}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  log_format chaos '$msec $request_time $status "$upstream_addr" "$upstream_status" $http_x_chaos_seq';
  access_log ${accessLog} chaos;
  client_body_temp_path ${dir}/tmp/client;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 65s;
  upstream chaos {
    random two least_conn;
${backends.map((b) => `    server 127.0.0.1:${b.port} max_fails=${F.unhealthyThreshold} fail_timeout=${dur(2 * F.healthIntervalMs)};`).join('\n')}
    keepalive 128;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://chaos;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout ${dur(F.connectTimeoutMs)};
      proxy_send_timeout ${dur(F.perTryTimeoutMs)};
      proxy_read_timeout ${dur(F.perTryTimeoutMs)};
      proxy_next_upstream error timeout http_502 http_503 http_504;
      proxy_next_upstream_tries ${F.retries + 1};
    }
  }
}
`;
}

/**
 * HAProxy: `balance random(2)` (power of two choices on active connections); active HTTP
 * checks (`inter 1s fall 2 rise 2`); live traffic observed at layer 7 with a server marked
 * down after `error-limit` consecutive errors; 2 retries, each redispatched to another
 * server, on every retryable error (connection failures, empty or junk responses,
 * response timeouts, 500/502/503/504); `timeout server` plays the per-try timeout.
 * Logs (requests, and server state changes) go to stdout, i.e. a file.
 */
export function haproxyConfig({ port, statsPort, backends }) {
  return `# generated by chaos/run.mjs
global
  nbthread 1
  maxconn 8000
  log stdout format raw local0 info

defaults
  mode http
  log global
  option httplog
  timeout connect ${dur(F.connectTimeoutMs)}
  timeout client 60s
  timeout server ${dur(F.perTryTimeoutMs)}
  timeout http-keep-alive 60s
  timeout check ${dur(F.healthTimeoutMs)}
  http-reuse always
  retries ${F.retries}
  option redispatch 1
  retry-on all-retryable-errors

frontend fe
  bind 127.0.0.1:${port}
  default_backend be

backend be
  balance random(2)
  option httpchk
  http-check send meth GET uri /healthz
  http-check expect status 200
  default-server check inter ${dur(F.healthIntervalMs)} fall ${F.unhealthyThreshold} rise ${F.healthyThreshold} slowstart ${dur(F.slowStartMs)} observe layer7 error-limit ${F.consecutiveGatewayFailures} on-error mark-down
${backends.map((b) => `  server ${b.name} 127.0.0.1:${b.port}`).join('\n')}

frontend stats
  bind 127.0.0.1:${statsPort}
  no log
  stats enable
  stats uri /stats
`;
}

// --- observers -----------------------------------------------------------------------------

/**
 * Polls `read()` (→ Map backend name → { tries, up }) every POLL_MS. The tries counted
 * since the previous poll are entered at that poll's time; a change of `up` is recorded too.
 * stop() resolves to { tries: Map name → [epoch ms], states: Map name → [{ t, up }], last:
 * the proxy's last raw answer when it gives one (Brisk: its view of the upstream) }.
 */
function pollingObserver(read) {
  const tries = new Map();
  const states = new Map();
  const last = new Map();
  let timer = null;
  let busy = false;
  let failures = 0;
  let lastRaw = null;
  const poll = async () => {
    if (busy) return;
    busy = true;
    try {
      const now = epochMs();
      const m = await read();
      if (m.raw !== undefined) lastRaw = m.raw;
      for (const [name, s] of m) {
        const prev = last.get(name);
        // One entry per try, all at the poll's time (the resolution is the poll interval).
        if (prev !== undefined) for (let n = Math.min(s.tries - prev.tries, 10_000); n > 0; n--) push(tries, name, now);
        if (prev === undefined || s.up !== prev.up) push(states, name, { t: now, up: s.up });
        last.set(name, s);
      }
    } catch {
      failures++;
    } finally {
      busy = false;
    }
  };
  return {
    start() {
      timer = setInterval(poll, POLL_MS);
    },
    async stop() {
      clearInterval(timer);
      return { tries, states, resolutionMs: POLL_MS, failures, last: lastRaw };
    },
  };
}

function push(map, key, value) {
  let a = map.get(key);
  if (a === undefined) map.set(key, (a = []));
  a.push(value);
}

/** Brisk's admin API: started tries of a target = completed + in flight. */
async function briskTargets(adminPort, backends) {
  const body = JSON.parse(await get(adminPort, '/api/upstreams'));
  const out = new Map();
  const up = body.upstreams?.find((u) => u.name === 'chaos');
  out.raw = up;
  for (const t of up?.targets ?? []) {
    const b = backends.find((x) => t.origin === x.url);
    if (b !== undefined) out.set(b.name, { tries: (t.completed ?? 0) + (t.inFlight ?? 0), up: t.available !== false });
  }
  return out;
}

/** HAProxy's stats CSV: any move of sessions, connection or response errors counts as a try. */
async function haproxyServers(statsPort, backends) {
  const csv = await get(statsPort, '/stats;csv');
  const lines = csv.split('\n');
  const head = lines[0].replace(/^#\s*/, '').split(',');
  const col = (name) => head.indexOf(name);
  const [px, sv, stot, econ, eresp, status] = ['pxname', 'svname', 'stot', 'econ', 'eresp', 'status'].map(col);
  const out = new Map();
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    if (f[px] !== 'be' || !backends.some((b) => b.name === f[sv])) continue;
    out.set(f[sv], { tries: Number(f[stot] || 0) + Number(f[econ] || 0) + Number(f[eresp] || 0), up: /^UP/.test(f[status]) });
  }
  return out;
}

/** NGINX: every server in `$upstream_addr` was tried; the time is the request's start. */
function nginxObserver(accessLog, backends) {
  return {
    start() {},
    async stop() {
      const tries = new Map();
      let text = '';
      try {
        text = fs.readFileSync(accessLog, 'utf8');
      } catch {
        // no log: no events
      }
      const byPort = new Map(backends.map((b) => [`127.0.0.1:${b.port}`, b.name]));
      for (const line of text.split('\n')) {
        const m = /^(\d+\.\d+) (\d+\.\d+) \d+ "([^"]*)"/.exec(line);
        if (m === null) continue;
        const start = Number(m[1]) * 1000 - Number(m[2]) * 1000;
        for (const addr of m[3].split(/\s*[,:]\s+/)) {
          const name = byPort.get(addr.trim());
          if (name !== undefined) push(tries, name, start);
        }
      }
      return { tries, states: new Map(), resolutionMs: 1 };
    },
  };
}

function get(port, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${urlPath}: ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

function gitRev() {
  const r = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  if (r.status !== 0) return '';
  const dirty = spawnSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).stdout.trim() !== '';
  return ` (${r.stdout.trim()}${dirty ? ' + uncommitted src changes' : ''})`;
}

function firstLine(s) {
  return String(s ?? '').split('\n')[0].trim();
}
