import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { formatProblem, loadConfig, parseConfigText } from './load.js';
import type { Config, ConfigProblem } from './types.js';
import { expectProblem, where } from './testing.js';

const dir = mkdtempSync(join(tmpdir(), 'brisk-subst-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A config whose listener port, header count and one header value come from references. */
const TEXT = `listen:
  - address: "127.0.0.1:\${PORT}"
proxy:
  via: "edge $\${AMOUNT}"
limits:
  maxHeaderCount: \${COUNT:-80}
  maxBodySize: \${BODY:-1mb}
upstreams:
  app:
    targets: [{ url: "\${APP_URL}" }]
routes:
  - name: r
    upstream: app
    requestHeaders:
      set:
        x-route-id: "\${requestId}"
        x-token: "\${file:token.txt}"
`;

function load(text: string, env: Record<string, string>, file = join(dir, 'brisk.yaml')): { config?: Config; problems: ConfigProblem[] } {
  const result = parseConfigText(text, file, { env });
  return result.ok ? { config: result.config, problems: [] } : { problems: result.problems };
}

writeFileSync(join(dir, 'token.txt'), 's3cr3t-t0ken\n');

describe('${VAR} substitution in config values', () => {
  test('fills values from the environment and a secret file, with defaults, and keeps templates and escapes', () => {
    const { config, problems } = load(TEXT, { PORT: '8080', APP_URL: 'http://127.0.0.1:7001' });
    assert.deepEqual(problems.map(formatProblem), []);
    assert.equal(config!.listen[0]!.port, 8080);
    assert.equal(config!.limits.maxHeaderCount, 80, 'the default, read as the number the schema wants');
    assert.equal(config!.limits.maxBodySize, 1024 * 1024);
    assert.equal(config!.upstreams['app']!.targets[0]!.origin, 'http://127.0.0.1:7001');
    const set = config!.routes[0]!.requestHeaders!.set;
    assert.equal(set['x-route-id'], '${requestId}', 'lower/mixed-case names are route templates, not variables');
    assert.equal(config!.proxy.via, 'edge ${AMOUNT}', '$${ is a literal ${');
    assert.equal(set['x-token'], 's3cr3t-t0ken', 'the file, its trailing newline removed');
  });

  test('an empty variable takes the default (POSIX :-), a set one wins over it', () => {
    assert.equal(load(TEXT, { PORT: '1', APP_URL: 'http://a:1', COUNT: '' }).config!.limits.maxHeaderCount, 80);
    assert.equal(load(TEXT, { PORT: '1', APP_URL: 'http://a:1', COUNT: '12' }).config!.limits.maxHeaderCount, 12);
  });

  test('an unset variable is a problem at the line and column of its ${, naming the variable', () => {
    const { problems } = load(TEXT, { PORT: '8080' });
    expectProblem(problems, 'upstreams.app.targets.0.url', /^environment variable APP_URL is not set; set it, or give a default: \$\{APP_URL:-value\}/, where(TEXT, '${APP_URL}'));
  });

  test('every missing reference of the file is reported at once, a missing secret file with its path', () => {
    const text = TEXT.replace('token.txt', 'absent.txt');
    const { problems } = load(text, {});
    assert.deepEqual(
      problems.map((p) => p.path),
      ['listen.0.address', 'upstreams.app.targets.0.url', 'routes.0.requestHeaders.set.x-token'],
    );
    expectProblem(problems, 'routes.0.requestHeaders.set.x-token', `secret file ${join(dir, 'absent.txt')} not found`, where(text, '${file:'));
  });

  test('a value from the environment never changes the structure of the file', () => {
    const injected = 'http://127.0.0.1:1\nroutes: []\nx: "y"';
    const { problems } = load(TEXT, { PORT: '8080', APP_URL: injected });
    // One string, refused as a URL at its own place; the routes are still there.
    assert.ok(problems.length > 0);
    assert.ok(problems.every((p) => p.path.startsWith('upstreams.app.targets.0')), problems.map(formatProblem).join('\n'));
  });

  test('a substituted value stays text where the schema wants text (a numeric token), and is read as a number only where it wants one', () => {
    const text = `listen: [{ address: "127.0.0.1:0" }]\nadmin: { address: "127.0.0.1:0", token: "\${TOKEN}" }\nupstreams: { app: { targets: [{ url: "http://127.0.0.1:1" }] } }\nroutes: [{ name: r, upstream: app, maxBodySize: "\${MAX}" }]\n`;
    const { config, problems } = load(text, { TOKEN: '12345678901234567890', MAX: '2048' });
    assert.deepEqual(problems.map(formatProblem), []);
    assert.equal(config!.admin!.token, '12345678901234567890');
    assert.equal(config!.routes[0]!.maxBodySize, 2048);
  });

  test('a problem about a substituted value never shows the value, only its reference', () => {
    const text = TEXT.replace('${COUNT:-80}', '${COUNT}');
    const { problems } = load(text, { PORT: '8080', APP_URL: 'http://127.0.0.1:1', COUNT: 'hunter2-password' });
    const p = problems.find((x) => x.path === 'limits.maxHeaderCount');
    assert.ok(p !== undefined, problems.map(formatProblem).join('\n'));
    assert.doesNotMatch(p.message, /hunter2/);
    assert.match(p.message, /the value of \$\{COUNT\}/);
  });

  test('keys are never substituted', () => {
    const text = `listen: [{ address: "127.0.0.1:0" }]\nupstreams: { "\${NAME}": { targets: [{ url: "http://127.0.0.1:1" }] } }\nroutes: [{ name: r, upstream: "\${NAME}" }]\n`;
    const { problems } = load(text, { NAME: 'app' });
    assert.ok(problems.some((p) => /unknown upstream "app"/.test(p.message)), problems.map(formatProblem).join('\n'));
  });

  test('loadConfig reads the process environment and resolves secret files next to the config file', async () => {
    const file = join(dir, 'env.yaml');
    writeFileSync(file, TEXT);
    process.env['BRISK_TEST_PORT_X'] = '8181';
    try {
      writeFileSync(file, TEXT.replace('${PORT}', '${BRISK_TEST_PORT_X}').replace('${APP_URL}', '${APP_URL:-http://127.0.0.1:9}'));
      const result = await loadConfig(file);
      assert.ok(result.ok, result.ok ? '' : result.problems.map(formatProblem).join('\n'));
      assert.equal(result.config.listen[0]!.port, 8181);
      assert.equal(result.config.routes[0]!.requestHeaders!.set['x-token'], 's3cr3t-t0ken');
    } finally {
      delete process.env['BRISK_TEST_PORT_X'];
    }
  });
});

describe('top-level x- keys', () => {
  test('are ignored by validation and hold anchors the rest of the file uses', () => {
    const text = `x-timeouts: &timeouts { connect: 1s, response: 5s }
x-notes: anything at all
listen: [{ address: "127.0.0.1:0" }]
upstreams:
  app: { targets: [{ url: "http://127.0.0.1:1" }], timeouts: *timeouts }
routes: [{ name: r, upstream: app }]
`;
    const { config, problems } = load(text, {});
    assert.deepEqual(problems.map(formatProblem), []);
    assert.equal(config!.upstreams['app']!.timeouts.responseMs, 5000);
    assert.equal(Object.hasOwn(config!, 'x-timeouts'), false);
  });

  test('other unknown top-level keys are still refused, and x- keys only at the top', () => {
    const text = `xtimeouts: 1\nlisten: [{ address: "127.0.0.1:0", x-note: 1 }]\nupstreams: { app: { targets: [{ url: "http://127.0.0.1:1" }] } }\nroutes: [{ name: r, upstream: app }]\n`;
    const { problems } = load(text, {});
    assert.deepEqual(
      problems.map((p) => p.path),
      ['xtimeouts', 'listen.0.x-note'],
    );
  });
});
