// What is measured: the ceiling (direct), Brisk, the Node floor, Node peers, and the
// C proxies when installed. Each case knows whether it can run here, how to start its
// server on a given port in front of the upstream, and what version it is.
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ensureDebianTool, startProcess } from './procs.mjs';

/**
 * ctx: { root, workDir, upstreamPort, cpus } — cpus is the taskset list for the proxy.
 * start(ctx, port) returns a process handle (procs.startProcess); `accessLog` is the file
 * the case writes its access log to, truncated before every run so the disk stays small.
 */
/** What the compressed cases send: compressible bodies from the upstream, gzip accepted. */
const COMPRESSED_REQUEST = { 'accept-encoding': 'gzip', 'x-bench-content': 'json' };

/** A secret of HS256's minimum length; bench only. */
const BENCH_JWT_SECRET = 'bench-secret-0123456789abcdef0123456789';

export const CASES = [
  {
    id: 'direct',
    what: 'client straight to the upstream: the ceiling',
    direct: true,
  },
  briskCase('brisk', 'Brisk gateway, default pipeline: metrics, JSON access log to a file, W3C trace context', []),
  briskCase('brisk-metrics-off', 'Brisk as `brisk`, with `metrics.enabled: false` (the cost of metrics is the ratio to `brisk`)', [], undefined, {
    topLevel: () => ['metrics:', '  enabled: false', 'logging:', '  accessLog: true', '  format: json'],
  }),
  briskCase(
    'brisk-secured',
    'Brisk with a JWT check (HS256) and a rate limit (memory, far above the load) on the route',
    [
      '    auth:',
      '      jwt:',
      `        secret: "${BENCH_JWT_SECRET}"`,
      '        algorithms: [HS256]',
      '        issuer: bench',
      '        audience: bench',
      '    rateLimit:',
      '      limits: [{ rate: 1000000, per: 1s, key: identity }]',
    ],
    { authorization: `Bearer ${benchJwt()}` },
  ),
  // The bench upstream sends no freshness information: `defaultTtl` makes its answers
  // cacheable, so after the first request every one is a memory hit.
  briskCase('brisk-cache-hit', 'Brisk with the route cache on; every request after the first is a hit from memory', [
    '    cache:',
    '      defaultTtl: 1h',
    '      maxObjectSize: 128kb',
  ]),
  // The cost of observability, side by side: the default above records metrics, writes a JSON
  // access line per request and propagates W3C trace context; `-observability-off` does none
  // of it (the bar: `brisk` ≥ 0.9× `brisk-observability-off`); `-tracing`
  // adds OTLP span export of every request (sampleRatio 1) to the upstream (POST /0 answers 200).
  briskCase('brisk-observability-off', 'Brisk with metrics, the access log and trace context propagation off', [], undefined, {
    logAccess: false,
    topLevel: () => ['metrics:', '  enabled: false', 'logging:', '  accessLog: false', '  format: json', 'tracing:', '  propagate: false'],
  }),
  briskCase('brisk-tracing', 'Brisk default + OTLP/HTTP span export of every request (server + client span)', [], undefined, {
    topLevel: ({ upstreamPort }) => [
      'logging:',
      '  accessLog: true',
      '  format: json',
      'tracing:',
      '  sampleRatio: 1',
      '  otlp:',
      `    endpoint: http://127.0.0.1:${upstreamPort}/0`,
    ],
  }),
  briskCase(
    'brisk-gzip',
    'Brisk as `brisk`, with `compression` (gzip level 6) on the route: JSON-like bodies compressed per request (compare with nginx-gzip)',
    ['    compression:', '      encodings: [gzip]', '      level: { gzip: 6 }'],
    COMPRESSED_REQUEST,
    { nginxPeer: 'nginx-gzip' },
  ),
  // The lean HTTP/1.1 upstream transport (`pool.transport: lean`, the default since the end of
  // issue 18's session) named explicitly, everything else as `brisk`; `brisk-undici` is the other.
  briskCase('brisk-lean', 'Brisk as `brisk`, with `pool.transport: lean` (the lean HTTP/1.1 upstream transport instead of undici)', [], undefined, {
    upstreamExtra: ['    pool:', '      transport: lean'],
  }),
  briskCase('brisk-undici', 'Brisk as `brisk`, with `pool.transport: undici` (undici\'s Pool, the default before the lean transport)', [], undefined, {
    upstreamExtra: ['    pool:', '      transport: undici'],
  }),
  // The lean HTTP/1.1 server in front of node:http on the listener (`transport: lean`,
  // src/listeners/h1/): requests in its strict subset skip IncomingMessage/ServerResponse.
  briskCase('brisk-lean-server', 'Brisk as `brisk`, with `transport: lean` on the listener (the lean HTTP/1.1 server in front of node:http)', [], undefined, {
    listenerExtra: ['    transport: lean'],
  }),
  // V8's collector on the main thread only: on one pinned core its parallel and concurrent
  // helpers run on the same core as the event loop, gaining nothing and costing switches
  // (docs/benchmarks.md, "Open-loop latency with the C generator").
  briskCase('brisk-single-threaded-gc', 'Brisk as `brisk`, node started with `--single-threaded-gc`', [], undefined, {
    nodeArgs: ['--single-threaded-gc'],
  }),
  // Another build of Brisk beside this one, for before/after ratios of a change:
  // BENCH_BRISK_BASELINE=/path/to/other/checkout (built: dist/src/cli/main.js there).
  briskCase('brisk-baseline', 'Brisk as `brisk`, from the checkout named by BENCH_BRISK_BASELINE (before/after a change)', [], undefined, {
    root: () => process.env.BENCH_BRISK_BASELINE || null,
  }),
  nodeCase('node-floor', 'bench/floor.mjs', 'node:http + undici Pool.stream writing into the ServerResponse, hop-by-hop dropped, no logging: the true floor', 'undici'),
  peerCase('http-proxy', 'bench/peers/http-proxy.mjs', 'http-proxy on node:http, keep-alive agent, no logging', 'http-proxy'),
  peerCase('fast-gateway', 'bench/peers/fast-gateway.mjs', 'fast-gateway (restana + fast-proxy-lite), no logging', 'fast-gateway', 'fast-proxy-lite'),
  peerCase('fastify-proxy', 'bench/peers/fastify-http-proxy.mjs', '@fastify/http-proxy on fastify, logger off', '@fastify/http-proxy', 'fastify'),
  nginxCase('nginx', 'nginx, 1 worker, upstream keepalive 64, buffered, access log to a file'),
  // The compressed pair: JSON-like bodies (`x-bench-content: json`, about 5:1) asked for with
  // `Accept-Encoding: gzip`, compressed at the same gzip level by both (6, Brisk's default).
  nginxCase('nginx-gzip', 'nginx as `nginx`, with gzip on (level 6, application/json, min length 1k)', COMPRESSED_REQUEST, [
    'gzip on;',
    'gzip_comp_level 6;',
    'gzip_types application/json;',
    'gzip_min_length 1024;',
    'gzip_proxied any;',
    'gzip_vary on;',
  ]),
  {
    id: 'haproxy',
    what: 'HAProxy, nbthread 1, http-reuse always, httplog to a file',
    // Installed from Debian when missing and running as root (the peers the ratios are read against).
    unavailable: () => ensureDebianTool('haproxy', 'haproxy'),
    // HAProxy drops O_APPEND from its stdout, so after the harness truncates the log between
    // runs the file starts with a hole (NUL bytes); the lines after it are the last run's.
    accessLog: ({ workDir }) => path.join(workDir, 'haproxy-access.log'),
    start({ workDir, upstreamPort, cpus }, port) {
      const conf = path.join(workDir, 'haproxy.cfg');
      fs.writeFileSync(
        conf,
        `# generated by bench/run.mjs
global
  nbthread 1
  maxconn 4000
  log stdout format raw local0 info

defaults
  mode http
  log global
  option httplog
  timeout connect 5s
  timeout client 65s
  timeout server 65s
  timeout http-keep-alive 65s
  http-reuse always

frontend fe
  bind 127.0.0.1:${port}
  default_backend be

backend be
  server up 127.0.0.1:${upstreamPort}
`,
      );
      return startProcess({
        name: 'haproxy',
        cmd: 'haproxy',
        args: ['-f', conf, '-db'],
        cpus,
        logPath: path.join(workDir, 'haproxy.stderr.log'),
        stdoutPath: path.join(workDir, 'haproxy-access.log'),
      });
    },
    version: () => `haproxy ${firstLine(spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).stdout).replace(/^HAProxy version\s*/, '').replace(/\s.*$/, '')}`,
  },
];

function nodeCase(id, file, what, ...pkgs) {
  return {
    id,
    what,
    start({ root, workDir, upstreamPort, cpus }, port) {
      return startProcess({
        name: id,
        cmd: process.execPath,
        // BENCH_CPU_PROF=DIR: the floor (and the Node peers) write a CPU profile there too, to compare with Brisk's.
        args: [...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.join(process.env.BENCH_CPU_PROF, id)}`] : []), path.join(root, file)],
        cpus,
        cwd: root,
        env: { PORT: String(port), UPSTREAM: `http://127.0.0.1:${upstreamPort}`, NODE_ENV: 'production' },
        logPath: path.join(workDir, `${id}.log`),
      });
    },
    version: ({ root }) => pkgs.map((pkg) => `${pkg} ${readVersion(path.join(root, 'node_modules', pkg, 'package.json'))}`).join(' + '),
  };
}

/** A Node peer: its packages are in bench/package.json (bench/node_modules), installed on first use. */
function peerCase(id, file, what, ...pkgs) {
  return {
    ...nodeCase(id, file, what),
    peer: true,
    version: ({ root }) => pkgs.map((pkg) => `${pkg} ${readVersion(path.join(root, 'bench', 'node_modules', pkg, 'package.json'))}`).join(' + '),
  };
}

function readVersion(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')).version ?? '?';
  } catch {
    return '?';
  }
}

function firstLine(s) {
  return String(s ?? '').split('\n')[0].trim();
}

/** True when some file under src/ is newer than the built CLI. */
function isStale(root) {
  let built;
  try {
    built = fs.statSync(path.join(root, 'dist/src/cli/main.js')).mtimeMs;
  } catch {
    return false;
  }
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (walk(p)) return true;
      } else if (e.name.endsWith('.ts') && fs.statSync(p).mtimeMs > built) return true;
    }
    return false;
  };
  try {
    return walk(path.join(root, 'src'));
  } catch {
    return false;
  }
}


/** A token valid for a day, signed with the bench secret (built by hand: no jose in the harness). */
function benchJwt() {
  const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'bench-user', iss: 'bench', aud: 'bench', iat: now, exp: now + 86400 })}`;
  const sig = createHmac('sha256', BENCH_JWT_SECRET).update(unsigned).digest('base64url');
  return `${unsigned}.${sig}`;
}

/**
 * A Brisk case: the same gateway, with `routeExtra` YAML lines added to its one route.
 * `options.topLevel(ctx)` replaces the default `logging` block (JSON access log on);
 * `options.logAccess: false` for a case that writes no access log (no emptiness check);
 * `options.nginxPeer`: the case the `vs nginx` column compares with (default `nginx`);
 * `options.nodeArgs`: flags for node itself, before the script.
 */
function briskCase(id, what, routeExtra, requestHeaders, options = {}) {
  const topLevel = options.topLevel ?? (() => ['logging:', '  accessLog: true', '  format: json']);
  // The checkout whose build runs: this one, or another one (options.root, for a baseline).
  const rootOf = (ctx) => (options.root === undefined ? ctx.root : options.root());
  return {
    id,
    what,
    requestHeaders,
    nginxPeer: options.nginxPeer,
    unavailable: (ctx) => {
      const root = rootOf(ctx);
      if (root === null) return 'BENCH_BRISK_BASELINE is not set (a checkout with a build to compare with)';
      return fs.existsSync(path.join(root, 'dist/src/cli/main.js')) ? null : `${path.join(root, 'dist/src/cli/main.js')} not built (run \`npm run build\` there)`;
    },
    warnings: (ctx) => (rootOf(ctx) !== null && isStale(rootOf(ctx)) ? ['src/ is newer than dist/: measuring an old build (run `npm run build`)'] : []),
    accessLog: options.logAccess === false ? undefined : ({ workDir }) => path.join(workDir, `${id}-access.log`),
    start(ctx, port) {
      const { workDir, upstreamPort, cpus } = ctx;
      const root = rootOf(ctx);
      const config = path.join(workDir, `${id}.yaml`);
      fs.writeFileSync(
        config,
        [
          '# generated by bench/run.mjs',
          'listen:',
          `  - address: 127.0.0.1:${port}`,
          ...(options.listenerExtra ?? []),
          'upstreams:',
          '  bench:',
          '    targets:',
          `      - url: http://127.0.0.1:${upstreamPort}`,
          ...(options.upstreamExtra ?? []),
          'routes:',
          '  - name: all',
          '    match:',
          '      pathPrefix: /',
          '    upstream: bench',
          ...routeExtra,
          ...topLevel({ upstreamPort }),
          '',
        ].join('\n'),
      );
      return startProcess({
        name: id,
        cmd: process.execPath,
        // BENCH_CPU_PROF=DIR: each Brisk writes a V8 CPU profile there when it stops.
        args: [
          ...(options.nodeArgs ?? []),
          ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.join(process.env.BENCH_CPU_PROF, id)}`] : []),
          path.join(root, 'dist/src/cli/main.js'),
          'start',
          '--config',
          config,
        ],
        cpus,
        cwd: root,
        env: { NODE_ENV: 'production' },
        logPath: path.join(workDir, `${id}.stderr.log`),
        stdoutPath: path.join(workDir, `${id}-access.log`),
      });
    },
    version: (ctx) => {
      const root = rootOf(ctx);
      return root === null ? null : `brisk ${readVersion(path.join(root, 'package.json'))}${options.root === undefined ? '' : ` at ${root}`}`;
    },
  };
}

/**
 * NGINX in front of the upstream: 1 worker, upstream keepalive, buffered, access log to a
 * file. `httpExtra`: directives added to its `http` block (gzip for the compressed case).
 */
function nginxCase(id, what, requestHeaders, httpExtra = []) {
  return {
    id,
    what,
    requestHeaders,
    unavailable: () => ensureDebianTool('nginx', 'nginx'),
    accessLog: ({ workDir }) => path.join(workDir, id, 'access.log'),
    start({ workDir, upstreamPort, cpus }, port) {
      const dir = path.join(workDir, id);
      fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
      const conf = path.join(dir, 'nginx.conf');
      const runAsRoot = process.getuid?.() === 0 ? 'user root;\n' : '';
      fs.writeFileSync(
        conf,
        `# generated by bench/run.mjs
${runAsRoot}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log ${dir}/access.log combined;
  client_body_temp_path ${dir}/tmp/client;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  # Node servers have no per-connection request cap; do not let nginx's default (1000) close connections mid-run.
  keepalive_requests 1000000;
  keepalive_timeout 65s;
${httpExtra.map((line) => `  ${line}\n`).join('')}  upstream bench {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://bench;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # Default buffering, but enough memory for a 64 KB body and never a temp file.
      proxy_buffers 16 8k;
      proxy_max_temp_file_size 0;
    }
  }
}
`,
      );
      return startProcess({
        name: id,
        cmd: 'nginx',
        args: ['-e', path.join(dir, 'error.log'), '-p', dir, '-c', conf, '-g', 'daemon off;'],
        cpus,
        logPath: path.join(dir, 'stderr.log'),
      });
    },
    version: () => firstLine(spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr).replace(/^nginx version:\s*/, '').replace('/', ' '),
  };
}
