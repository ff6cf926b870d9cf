import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { formatProblem, loadConfig, parseConfigText, type ConfigResult } from './load.js';
import type { Config } from './types.js';
import { EXAMPLE_CONFIG } from './docs.js';
import { expectProblem, expectProblems, expectValid, MINIMAL_CONFIG, where } from './testing.js';

// The example config, which the configuration reference shows too.
const EXAMPLE = EXAMPLE_CONFIG;

const BASE = MINIMAL_CONFIG;
const ok = expectValid;
const problems = expectProblems;

describe('a valid configuration', () => {
  test('the example normalises to the runtime shape', () => {
    const { config, warnings } = ok(EXAMPLE, 'example.yaml');
    assert.deepEqual(warnings, []);
    const expected: Config = {
      source: resolve('example.yaml'),
      listen: [{ name: '127.0.0.1:8080', host: '127.0.0.1', port: 8080, h2c: false }],
      admin: { host: '127.0.0.1', port: 9901 },
      limits: { maxHeaderSize: 16384, maxHeaderCount: 100, headersTimeoutMs: 10_000, requestTimeoutMs: 0, keepAliveTimeoutMs: 5000, maxBodySize: 0 },
      proxy: { trustedProxies: [], via: 'brisk', requestIdHeader: 'x-request-id', drainTimeoutMs: 10_000, deadlineHeader: 'x-brisk-timeout-ms' },
      overload: null,
      logging: { level: 'info', format: 'auto', accessLog: true, access: { file: null, maxSize: 100 * 1024 * 1024, maxFiles: 10, daily: false, sampleSuccesses: 1 } },
      tracing: { propagate: true, sampleRatio: 1, serviceName: 'brisk', otlp: null },
      upstreams: {
        products: {
          name: 'products',
          targets: [
            { origin: 'http://127.0.0.1:7001', basePath: '', weight: 1 },
            { origin: 'http://127.0.0.1:7002', basePath: '', weight: 2 },
          ],
          discovery: null,
          balancer: 'p2c-ewma',
          timeouts: { connectMs: 1000, responseMs: 15_000, idleMs: 60_000, totalMs: 0 },
          pool: { connections: 128, keepAliveTimeoutMs: 30_000 },
          hostHeader: 'preserve',
          hash: null,
          stickySession: null,
          slowStartMs: 0,
          drainTimeoutMs: 30_000,
          healthCheck: null,
          outlierDetection: {
            consecutive5xx: 5,
            consecutiveGatewayFailures: 3,
            failureRate: null,
            baseEjectionMs: 5000,
            maxEjectionMs: 300_000,
            maxEjectionRatio: 0.5,
          },
          panicThreshold: 0.5,
          retry: {
            attempts: 2,
            statuses: [502, 503, 504],
            perTryTimeoutMs: 0,
            backoffBaseMs: 10,
            backoffMaxMs: 250,
            budgetRatio: 0.2,
            budgetMinPerSecond: 10,
            maxBufferedBody: 65536,
            unsafeMethods: false,
            grpcStatuses: [14],
          },
          hedge: { delay: 'auto', minDelayMs: 50 },
          limits: null,
          circuitBreaker: null,
          http2: 'auto',
          tls: null,
        },
      },
      routes: [
        {
          name: 'products',
          index: 0,
          match: { hosts: [], pathPrefix: '/api/products', methods: ['GET', 'POST'], headers: {}, query: {} },
          upstream: 'products',
          maxBodySize: 0,
        },
        { name: 'everything-else', index: 1, match: { hosts: [], pathPrefix: '/', methods: [], headers: {}, query: {} }, upstream: 'products', maxBodySize: 0 },
      ],
    };
    assert.deepEqual(config, expected);
  });

  test('the result is deeply frozen', () => {
    const { config } = ok(EXAMPLE);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.routes));
    assert.ok(Object.isFrozen(config.routes[0]?.match.methods));
    assert.ok(Object.isFrozen(config.upstreams['products']?.targets[1]));
    assert.throws(() => {
      (config.routes as unknown as unknown[]).push({});
    }, TypeError);
  });

  test('units, defaults and merges', () => {
    const { config } = ok(`listen:
  - address: "8080"
  - address: "[::1]:0"
    name: v6
limits: { maxHeaderSize: 32kb, headersTimeout: 2500, maxBodySize: 1mb, keepAliveTimeout: 1.5s }
logging: { level: debug, format: json, accessLog: false }
upstreams:
  api:
    balancer: round-robin
    hostHeader: target
    pool: { connections: 8, keepAliveTimeout: 1m }
    timeouts: { connect: 250ms, total: 1h }
    targets:
      - url: https://backend.internal:8443/base/v1/
routes:
  - name: slow
    upstream: api
    maxBodySize: 100mb
    timeouts: { response: 2m }
    rewrite: { stripPrefix: /x, addPrefix: /y }
  - name: rest
    upstream: api
`);
    assert.deepEqual(config.listen, [
      { name: '8080', host: '0.0.0.0', port: 8080, h2c: false },
      { name: 'v6', host: '::1', port: 0, h2c: false },
    ]);
    assert.equal(config.admin, undefined);
    assert.deepEqual(config.limits, { maxHeaderSize: 32 * 1024, maxHeaderCount: 100, headersTimeoutMs: 2500, requestTimeoutMs: 0, keepAliveTimeoutMs: 1500, maxBodySize: 1024 * 1024 });
    assert.deepEqual({ ...config.logging, access: undefined }, { level: 'debug', format: 'json', accessLog: false, access: undefined });
    const api = config.upstreams['api'];
    assert.deepEqual(api?.targets, [{ origin: 'https://backend.internal:8443', basePath: '/base/v1', weight: 1 }]);
    assert.equal(api?.balancer, 'round-robin');
    assert.equal(api?.hostHeader, 'target');
    assert.deepEqual(api?.pool, { connections: 8, keepAliveTimeoutMs: 60_000 });
    assert.deepEqual(api?.timeouts, { connectMs: 250, responseMs: 30_000, idleMs: 60_000, totalMs: 3_600_000 });
    const [slow, rest] = config.routes;
    // The route's own timeout wins; the others come from the upstream, not from the defaults.
    assert.deepEqual(slow?.timeouts, { connectMs: 250, responseMs: 120_000, idleMs: 60_000, totalMs: 3_600_000 });
    assert.equal(slow?.maxBodySize, 100 * 1024 * 1024);
    assert.deepEqual(slow?.rewrite, { stripPrefix: '/x', addPrefix: '/y' });
    assert.equal(rest?.timeouts, undefined);
    assert.equal(rest?.maxBodySize, 1024 * 1024, 'falls back to limits.maxBodySize');
    assert.deepEqual(rest?.match, { hosts: [], methods: [], headers: {}, query: {} }, 'no match: every request');
    assert.equal(rest?.index, 1);
  });

  test('anchors and merge keys are resolved', () => {
    const { config } = ok(`listen: [{ address: "127.0.0.1:0" }]
upstreams:
  a: { targets: [{ url: "http://127.0.0.1:1" }], timeouts: &fast { connect: 2s } }
  b:
    <<: { targets: [{ url: "http://127.0.0.1:2" }], timeouts: *fast }
    balancer: round-robin
routes: [{ name: a, upstream: a }, { name: b, upstream: b }]
`);
    assert.equal(config.upstreams['a']?.timeouts.connectMs, 2000);
    assert.equal(config.upstreams['b']?.timeouts.connectMs, 2000);
    assert.equal(config.upstreams['b']?.targets[0]?.origin, 'http://127.0.0.1:2');
    assert.equal(config.upstreams['b']?.balancer, 'round-robin');
  });

  test('a problem inside a merged block points at the merge', () => {
    const text = `listen: [{ address: "127.0.0.1:0" }]
upstreams:
  b:
    <<: { targets: [{ url: "http://127.0.0.1:2" }], balancer: fastest }
routes: [{ name: b, upstream: b }]
`;
    // The value comes from the merge, not from a "balancer" key of b: the nearest real node is b's mapping.
    expectProblem(problems(text), 'upstreams.b.balancer', /^expected one of .*"round-robin".*; got "fastest"/, where(text, '<<'));
  });

  test('port 0 may repeat; explicit listener names default to the address', () => {
    const { config } = ok(BASE.replace('  - address: 127.0.0.1:0\n', '  - address: 127.0.0.1:0\n  - address: 127.0.0.1:0\n'));
    assert.equal(config.listen.length, 2);
    assert.equal(config.listen[1]?.name, '127.0.0.1:0');
  });

  test('warnings do not fail the load', () => {
    const text = `listen: [{ address: "127.0.0.1:0" }]
admin: { address: "9901" }
upstreams:
  products: { targets: [{ url: "http://127.0.0.1:7001" }] }
  spare:
    targets: [{ url: "http://127.0.0.1:7002" }, { url: "http://127.0.0.1:7002/" }]
routes: [{ name: products, upstream: products }]
`;
    const { warnings } = ok(text);
    const at = (needle: string, occurrence = 1) => {
      const p = where(text, needle, occurrence);
      return [p.line, p.column];
    };
    assert.deepEqual(
      warnings.map((w) => [w.line, w.column, w.path, w.message]),
      [
        [...at('"9901"'), 'admin.address', 'the admin API listens on every interface (0.0.0.0); keep it on loopback or a private network, such as "127.0.0.1:9901"'],
        [...at('spare:'), 'upstreams.spare', 'upstream "spare" is not used by any route'],
        [...at('"http://127.0.0.1:7002/"'), 'upstreams.spare.targets.1.url', 'target "http://127.0.0.1:7002/" is listed twice (also targets.0); use weight instead'],
      ],
    );
  });
});

describe('schema problems', () => {
  test('unknown key: points at the key and suggests the close one', () => {
    const text = BASE.replace('    targets:', '    timeout: { connect: 1s }\n    targets:');
    const list = problems(text);
    assert.equal(list.length, 1);
    expectProblem(list, 'upstreams.products.timeout', 'unknown key "timeout"; did you mean "timeouts"?', where(text, 'timeout:'));
  });

  test('unknown key with nothing close lists the allowed keys', () => {
    const text = `${BASE}    color: blue\n`;
    expectProblem(problems(text), 'routes.0.color', /^unknown key "color"; expected one of: name, match, upstream, rewrite, /, where(text, 'color'));
  });

  test('durations, sizes and enumerations: one message per mistake', () => {
    const text = `${BASE}limits:
  headersTimeout: fast
  maxBodySize: huge
logging:
  level: warning
`;
    const list = problems(text);
    assert.equal(list.length, 3, list.map(formatProblem).join('\n'));
    expectProblem(list, 'limits.headersTimeout', 'expected a duration such as "500ms", "2s", "1m" (or a number of milliseconds); got "fast"', where(text, 'fast'));
    expectProblem(list, 'limits.maxBodySize', 'expected a size such as "16kb", "10mb", "1gb" (or a number of bytes); got "huge"', where(text, 'huge'));
    expectProblem(list, 'logging.level', 'expected one of "trace", "debug", "info", "warn", "error", "fatal", "silent"; got "warning"; did you mean "warn"?', where(text, 'warning'));
  });

  test('a negative duration is a duration problem, not a "minimum" one', () => {
    const text = `${BASE}proxy: { drainTimeout: -1 }\n`;
    expectProblem(problems(text), 'proxy.drainTimeout', /^expected a duration such as .*; got -1$/, where(text, '-1'));
  });

  test('missing required keys and wrong types', () => {
    const text = `listen: 5
upstreams:
  products:
    targets: []
routes:
  - name: products
`;
    const list = problems(text);
    expectProblem(list, 'listen', 'expected a list; got 5', where(text, '5'));
    expectProblem(list, 'upstreams.products.targets', 'must not be an empty list', where(text, '[]'));
    expectProblem(list, 'routes.0.upstream', 'missing required key "upstream" (or "aggregate", for a route that combines several requests, or "redirect")', where(text, 'name: products'));
    assert.equal(list.length, 3);
  });

  test('a missing top-level key points at the top of the file', () => {
    const text = 'listen: [{ address: "127.0.0.1:0" }]\nroutes: []\n';
    expectProblem(problems(text), 'upstreams', 'missing required key "upstreams"', { line: 1, column: 1 });
  });

  test('a bare numeric port gets a hint to quote it', () => {
    const text = BASE.replace('127.0.0.1:0', '8080');
    expectProblem(problems(text), 'listen.0.address', 'expected a string; got 8080; write a bare port in quotes: "8080"', where(text, '8080'));
  });

  test('patterns are explained in words', () => {
    const text = `${BASE}    match: { pathPrefix: api, methods: ["GE T"] }\n  - name: "bad name"\n    upstream: products\n`;
    const list = problems(text);
    expectProblem(list, 'routes.0.match.pathPrefix', 'must start with "/"; got "api"', where(text, 'api,'));
    expectProblem(list, 'routes.0.match.methods.0', /^is not a valid HTTP method .*; got "GE T"$/, where(text, '"GE T"'));
    expectProblem(list, 'routes.1.name', 'may only contain letters, digits and "_", ".", ":", "-"; got "bad name"', where(text, '"bad name"'));
  });

  test('an invalid upstream name is reported at the name', () => {
    const text = BASE.replace('  products:\n    targets', '  "my products":\n    targets');
    expectProblem(problems(text), 'upstreams.my products', 'invalid name "my products": use only letters, digits and "_", ".", ":", "-"', where(text, '"my products"'));
  });

  test('a union reports the errors of the branch the value was meant for', () => {
    const text = `${BASE}    match:
      headers: { X-A: { exactt: x } }
      host: [ok.com, 7]
      query: { q: 5 }
`;
    const list = problems(text);
    expectProblem(list, 'routes.0.match.headers.X-A.exactt', 'unknown key "exactt"; did you mean "exact"?', where(text, 'exactt'));
    expectProblem(list, 'routes.0.match.host.1', 'expected a string; got 7', where(text, '7]'));
    expectProblem(list, 'routes.0.match.query.q', 'expected a string or a mapping with exact, prefix, regex or present; got 5', where(text, '5 }'));
    assert.equal(list.length, 3);
  });

  test('problems come sorted by line and column', () => {
    const text = `listen:
  - address: 1
    nmae: x
upstreams: {}
routes:
  - { name: a, upstream: b, timeouts: { idle: never }, extra: 1 }
`;
    const list = problems(text);
    const positions = list.map((p) => [p.line, p.column] as const);
    const sorted = [...positions].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    assert.deepEqual(positions, sorted);
    assert.deepEqual(
      list.map((p) => p.path),
      ['listen.0.address', 'listen.0.nmae', 'routes.0.upstream', 'routes.0.timeouts.idle', 'routes.0.extra'],
    );
  });
});

describe('semantic problems', () => {
  test('an admin token too short or with spaces; a good one is kept, and drainTimeout is read', () => {
    for (const token of ['short', 'sixteen chars ok']) {
      const text = `${BASE}admin: { address: 127.0.0.1:0, token: "${token}" }\n`;
      expectProblem(problems(text), 'admin.token', /at least 16 printable characters without spaces/, where(text, `"${token}"`));
    }
    const good = ok(`${BASE}admin: { address: 127.0.0.1:0, token: "0123456789abcdef-xyz" }\n`).config;
    assert.equal(good.admin?.token, '0123456789abcdef-xyz');
    const drain = ok(BASE.replace('    targets:', '    drainTimeout: 2s\n    targets:')).config;
    assert.equal(drain.upstreams['products']!.drainTimeoutMs, 2000);
  });

  test('duplicate and overlapping listener addresses, admin on a listener address', () => {
    const text = `listen:
  - address: 127.0.0.1:8080
  - address: 127.0.0.1:8080
  - address: "8080"
admin: { address: 127.0.0.1:8080 }
upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [{ name: a, upstream: a }]
`;
    const list = problems(text);
    expectProblem(list, 'listen.1.address', 'listener address "127.0.0.1:8080" is already used by listen.0', where(text, '127.0.0.1:8080', 2));
    expectProblem(list, 'listen.2.address', /^listener address "8080" overlaps listen.0 \(127.0.0.1:8080\)/, where(text, '"8080"'));
    expectProblem(list, 'admin.address', 'admin address "127.0.0.1:8080" is already used by listen.0', where(text, '127.0.0.1:8080', 3));
  });

  test('bad addresses', () => {
    const text = BASE.replace('127.0.0.1:0', '"127.0.0.1:70000"') + 'admin: { address: "::1:9901" }\n';
    const list = problems(text);
    expectProblem(list, 'listen.0.address', 'invalid address "127.0.0.1:70000": port 70000 is out of range (1-65535, or 0 for any free port)', where(text, '"127.0.0.1:70000"'));
    expectProblem(list, 'admin.address', 'invalid address "::1:9901": an IPv6 address needs brackets: "[::1]:8080"', where(text, '"::1:9901"'));
  });

  test('invalid trusted proxies', () => {
    const text = `${BASE}proxy:\n  trustedProxies: [10.0.0.0/8, 10.0.0.0/40, proxy.local]\n`;
    const list = problems(text);
    expectProblem(list, 'proxy.trustedProxies.1', '"10.0.0.0/40" has an invalid prefix length (0-32)', where(text, '10.0.0.0/40'));
    expectProblem(list, 'proxy.trustedProxies.2', '"proxy.local" is not an IP address or CIDR range (such as "10.0.0.0/8" or "::1")', where(text, 'proxy.local'));
    assert.equal(list.length, 2);
  });
});

describe('TLS files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'brisk-config-'));
  mkdirSync(join(dir, 'certs'));
  // A real pair: the loader parses certificates and keys (tls-material.ts).
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'certs', 'server.key'), '-out', join(dir, 'certs', 'server.crt'), '-days', '30', '-subj', '/CN=api.example.com'], { stdio: 'ignore' });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const tlsConfig = (cert: string, key: string) =>
    BASE.replace(
      '  - address: 127.0.0.1:0\n',
      `  - address: 127.0.0.1:0\n    tls:\n      http2: false\n      certificates:\n        - { cert: ${cert}, key: ${key}, serverNames: [API.example.com] }\n`,
    );

  test('paths resolve against the config file directory', async () => {
    const file = join(dir, 'brisk.yaml');
    writeFileSync(file, tlsConfig('certs/server.crt', './certs/server.key'));
    const result = await loadConfig(file);
    assert.ok(result.ok, result.ok ? '' : result.problems.map(formatProblem).join('\n'));
    assert.deepEqual(result.config.listen[0]?.tls, {
      certificates: [{ certFile: join(dir, 'certs', 'server.crt'), keyFile: join(dir, 'certs', 'server.key'), serverNames: ['api.example.com'] }],
      http2: false,
      minVersion: 'TLSv1.2',
    });
    assert.equal(result.config.source, file);
  });

  test('missing files are problems with their absolute path', async () => {
    const file = join(dir, 'missing.yaml');
    const text = tlsConfig('certs/server.crt', 'certs/nope.key');
    writeFileSync(file, text);
    const result = await loadConfig(file);
    assert.equal(result.ok, false);
    const list = result.ok ? [] : result.problems;
    expectProblem(list, 'listen.0.tls.certificates.0.key', `key file not found: ${join(dir, 'certs', 'nope.key')}`, where(text, 'certs/nope.key'));
    assert.equal(list[0]?.file, file);
  });

  test('a directory is not a certificate', async () => {
    const file = join(dir, 'dir.yaml');
    writeFileSync(file, tlsConfig('certs', 'certs/server.key'));
    const result = await loadConfig(file);
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : (result.problems[0]?.message ?? ''), /^certificate file .*certs is a directory$/);
  });
});

describe('never throws', () => {
  // A fixed-seed generator: the same garbage on every run, so a failure can be replayed.
  function random(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s = (s * 1664525 + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
  }

  test('random bytes, YAML fragments and mutated configs', () => {
    const next = random(42);
    const alphabet = ' \n\t:-[]{}&*!|>\'"%@`#,?<=ab0123.\\/\0\u00e9\u{1F600}';
    const fragments = ['listen:', '  - ', 'address: ', 'upstreams:', 'routes:', '&x ', '*x', '<<: ', '!!binary ', '? ', '{', '}', '[', ']', '"', "'", '\n', '  ', 'name: a', 'upstream: a', '1s', '---\n', '%YAML 1.2\n'];
    const inputs: string[] = [];
    for (let i = 0; i < 60; i++) {
      let s = '';
      const length = Math.floor(next() * 200);
      for (let j = 0; j < length; j++) s += alphabet[Math.floor(next() * alphabet.length)];
      inputs.push(s);
      let f = '';
      for (let j = 0; j < 30; j++) f += fragments[Math.floor(next() * fragments.length)];
      inputs.push(f);
      const cut = Math.floor(next() * EXAMPLE.length);
      inputs.push(EXAMPLE.slice(0, cut) + alphabet[Math.floor(next() * alphabet.length)] + EXAMPLE.slice(cut + 1));
    }
    let valid = 0;
    for (const input of inputs) {
      let result: ConfigResult | undefined;
      assert.doesNotThrow(() => {
        result = parseConfigText(input, 'garbage.yaml');
      }, JSON.stringify(input));
      assert.ok(result);
      if (result.ok) {
        valid++;
        continue;
      }
      assert.ok(result.problems.length > 0);
      for (const p of result.problems) {
        assert.ok(p.line >= 1 && p.column >= 1, formatProblem(p));
        assert.ok(!p.message.includes('internal error'), `${JSON.stringify(input)} → ${formatProblem(p)}`);
        assert.ok(!formatProblem(p).includes('\n'), 'one line per problem');
      }
    }
    assert.ok(valid < inputs.length, 'garbage is mostly invalid');
  });
});

describe('formatProblem', () => {
  test('FILE:LINE:COL  path  message', () => {
    assert.equal(
      formatProblem({ file: 'brisk.yaml', line: 12, column: 15, path: 'routes.1.upstream', message: 'unknown upstream "prodcts"; did you mean "products"?' }),
      'brisk.yaml:12:15  routes.1.upstream  unknown upstream "prodcts"; did you mean "products"?',
    );
    assert.equal(formatProblem({ file: 'b.yaml', line: 1, column: 1, path: '', message: 'm' }), 'b.yaml:1:1  (root)  m');
    assert.equal(formatProblem({ file: '', line: 2, column: 3, path: 'x', message: 'm' }), '<config>:2:3  x  m');
  });
});
