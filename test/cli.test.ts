import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startBackend, type Backend } from './helpers/backend.js';
import { freePort } from './helpers/free-port.js';
import { spawnBrisk, waitAnswering, type BriskProcess } from './helpers/brisk-process.js';

const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;

function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `brisk start` (watching its file, as an operator runs it) and waits until its listener answers. */
async function startCli(file: string, port: number): Promise<BriskProcess> {
  const brisk = spawnBrisk(file, { watch: true });
  await waitAnswering(brisk, port, '/readyz-probe');
  return brisk;
}

describe('brisk CLI', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'brisk-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('check: exit 0 for a valid file', () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, 'listen:\n  - address: 127.0.0.1:8080\nupstreams:\n  p:\n    targets: [{ url: "http://127.0.0.1:7001" }]\nroutes:\n  - name: r\n    upstream: p\n');
    const r = runCli(['check', '--config', file]);
    assert.equal(r.status, 0, r.stderr);
  });

  it('check: exit 1 and one FILE:LINE:COL line per problem, with did-you-mean', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'listen:\n  - address: 127.0.0.1:8080\nupstreams:\n  products:\n    targets: [{ url: "http://127.0.0.1:7001" }]\n    timeout: { connect: 1s }\nroutes:\n  - name: r\n    upstream: prodcts\n',
    );
    const r = runCli(['check', '--config', file]);
    assert.equal(r.status, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 2, r.stderr);
    assert.match(lines[0]!, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:6:5  upstreams\\.products(\\.timeout)?  .*did you mean "timeouts"`));
    assert.match(lines[1]!, /:9:15  routes\.0\.upstream  .*did you mean "products"/);
  });

  it('schema: prints a JSON Schema', () => {
    const r = runCli(['schema']);
    assert.equal(r.status, 0);
    const schema = JSON.parse(r.stdout) as { properties: Record<string, unknown> };
    assert.ok(schema.properties['routes']);
    assert.ok(schema.properties['upstreams']);
  });

  it('--version and unknown commands', () => {
    assert.match(runCli(['--version']).stdout, /^brisk \d+\.\d+\.\d+/);
    const r = runCli(['frobnicate']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown command "frobnicate"/);
  });

  it('start: refuses an invalid config with the problems and exit 1', () => {
    const file = join(dir, 'bad2.yaml');
    writeFileSync(file, 'listen: []\nupstreams: {}\nroutes: []\n');
    const r = runCli(['start', '--config', file]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad2\.yaml:1:\d+/);
  });
});

describe('graceful shutdown and signals', () => {
  let slow: Backend;
  before(async () => {
    slow = await startBackend((req, res) => {
      const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms') ?? 0);
      setTimeout(() => res.end(`done after ${ms}`), ms);
    });
  });
  after(() => slow.close());

  it('SIGTERM: in-flight requests finish, then exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'brisk-sig-'));
    const port = await freePort();
    const file = join(dir, 'brisk.yaml');
    writeFileSync(file, `listen:\n  - address: 127.0.0.1:${port}\nupstreams:\n  s:\n    targets: [{ url: "${slow.url}" }]\nroutes:\n  - name: r\n    upstream: s\n`);
    const gw = await startCli(file, port);
    try {
      const inflight = request(`http://127.0.0.1:${port}/?ms=700`);
      await new Promise((r) => setTimeout(r, 150));
      gw.child.kill('SIGTERM');
      const res = await inflight;
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), 'done after 700');
      assert.equal(await gw.exited, 0, gw.output());
      await assert.rejects(request(`http://127.0.0.1:${port}/`), 'no longer accepting');
    } finally {
      gw.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SIGHUP reloads the config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'brisk-hup-'));
    const port = await freePort();
    const file = join(dir, 'brisk.yaml');
    const write = (prefix: string) =>
      writeFileSync(file, `listen:\n  - address: 127.0.0.1:${port}\nupstreams:\n  s:\n    targets: [{ url: "${slow.url}" }]\nroutes:\n  - name: r\n    match: { pathPrefix: ${prefix} }\n    upstream: s\n`);
    write('/one');
    const gw = await startCli(file, port);
    try {
      assert.equal((await request(`http://127.0.0.1:${port}/two`)).statusCode, 404);
      write('/two');
      gw.child.kill('SIGHUP');
      const deadline = Date.now() + 5000;
      let status = 0;
      while (Date.now() < deadline) {
        const res = await request(`http://127.0.0.1:${port}/two`);
        await res.body.dump();
        status = res.statusCode;
        if (status === 200) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(status, 200, gw.output());
      gw.child.kill('SIGINT');
      assert.equal(await gw.exited, 0);
    } finally {
      gw.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bin/brisk.js on a fresh clone', () => {
  const LAUNCHER = new URL('../../bin/brisk.js', import.meta.url).pathname;
  /** A copy of the launcher in a checkout with neither dist/ nor node_modules/; `ensure` is the body of scripts/ensure.mjs (none: no scripts/). */
  function checkout(ensure?: string): string {
    const root = mkdtempSync(join(tmpdir(), 'brisk-clone-'));
    mkdirSync(join(root, 'bin'));
    copyFileSync(LAUNCHER, join(root, 'bin', 'brisk.js'));
    writeFileSync(join(root, 'package.json'), '{ "type": "module" }\n');
    if (ensure !== undefined) {
      mkdirSync(join(root, 'scripts'));
      writeFileSync(join(root, 'scripts', 'ensure.mjs'), ensure);
    }
    return root;
  }
  const run = (root: string, args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'brisk.js'), ...args], { encoding: 'utf8', timeout: 20000 });
  // Stands in for the real install and build (npm ci, tsc): writes what they would, and talks on stdout as they do.
  const FAKE_ENSURE = `import { mkdirSync, writeFileSync, appendFileSync } from 'node:fs';
const root = new URL('..', import.meta.url).pathname;
appendFileSync(root + 'ensure-runs', 'x');
process.stdout.write('[brisk] installing dependencies: node_modules is missing\\n');
mkdirSync(root + 'node_modules', { recursive: true });
writeFileSync(root + 'node_modules/.package-lock.json', '{}');
mkdirSync(root + 'dist/src/cli', { recursive: true });
writeFileSync(root + 'dist/src/cli/main.js', 'export async function main(argv) { process.stdout.write(JSON.stringify(argv) + "\\\\n"); return 0; }\\nexport function exitAfterFlush(code) { process.exitCode = code; }\\n');
`;

  it('installs and builds first (output on stderr, so stdout stays the command\'s), then runs the command; later runs go straight to it', () => {
    const root = checkout(FAKE_ENSURE);
    try {
      const first = run(root, ['schema']);
      assert.equal(first.status, 0, first.stderr);
      assert.equal(first.stdout, '["schema"]\n', 'only the command writes to stdout');
      assert.match(first.stderr, /first run in this checkout: installing the dependencies and building/);
      assert.match(first.stderr, /\[brisk\] installing dependencies: node_modules is missing/);
      const second = run(root, ['--version']);
      assert.equal(second.stdout, '["--version"]\n');
      assert.equal(second.stderr, '');
      assert.equal(readFileSync(join(root, 'ensure-runs'), 'utf8'), 'x', 'ensure ran once');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('says what to run when it cannot install and build', () => {
    const failing = checkout('process.stderr.write("npm ci failed: no network\\n"); process.exit(1);\n');
    const bare = checkout();
    try {
      const r = run(failing, ['check']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /npm ci failed: no network/);
      assert.match(r.stderr, /could not install and build \(see above\); run `npm install && npm run build` in the checkout and try again/);
      const b = run(bare, ['check']);
      assert.equal(b.status, 1);
      assert.equal(b.stderr, 'brisk: not built yet; run `npm install && npm run build` in the checkout first\n');
    } finally {
      rmSync(failing, { recursive: true, force: true });
      rmSync(bare, { recursive: true, force: true });
    }
  });
});
