import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { startBackend, type Backend, type EchoBody } from './helpers/backend.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

function config(targets: string[], routeName = 'all', prefix = '/'): object {
  return {
    upstreams: { app: { targets: targets.map((url) => ({ url })) } },
    routes: [{ name: routeName, match: { pathPrefix: prefix }, upstream: 'app' }],
  };
}

describe('hot reload', () => {
  let a: Backend;
  let b: Backend;
  let gw: TestGateway;
  before(async () => {
    a = await startBackend((_req, res) => void res.end('a'));
    b = await startBackend((_req, res) => void res.end('b'));
    gw = await startGateway(config([a.url]));
  });
  after(async () => {
    await gw.stop();
    await a.close();
    await b.close();
  });

  it('costs zero failed requests under steady load', async () => {
    const agent = new Agent({ connections: 16 });
    let ok = 0;
    let failed = 0;
    const seen = new Set<string>();
    let running = true;
    const worker = async () => {
      while (running) {
        try {
          const res = await request(`${gw.url}/x`, { dispatcher: agent });
          const text = await res.body.text();
          if (res.statusCode === 200) {
            ok++;
            seen.add(text);
          } else failed++;
        } catch {
          failed++;
        }
      }
    };
    const workers = Array.from({ length: 16 }, worker);
    // Flip between two configs (different targets, different route names) many times.
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 25));
      gw.writeConfig(i % 2 === 0 ? config([b.url], 'other') : config([a.url]));
      const result = await gw.gw.reload();
      assert.equal(result.ok, true);
    }
    running = false;
    await Promise.all(workers);
    await agent.close();
    assert.equal(failed, 0, `${failed} requests failed during reloads`);
    assert.ok(ok > 100, `only ${ok} requests completed`);
    assert.deepEqual([...seen].sort(), ['a', 'b'], 'both configs served traffic');
  });

  it('keeps the old config serving when the new one is invalid, and reports why', async () => {
    gw.writeConfig(config([a.url]));
    assert.equal((await gw.gw.reload()).ok, true);
    const before = gw.gw.runtime.version;
    gw.writeConfig('upstreams:\n  app:\n    targets:\n      - url: http://127.0.0.1:1\nroutes:\n  - name: r\n    upstream: ap\nlisten:\n  - address: 127.0.0.1:0\n');
    const res = await request(`${gw.adminUrl}/api/reload`, { method: 'POST' });
    assert.equal(res.statusCode, 422);
    const body = (await res.body.json()) as { error: { code: string; problems: { path: string; message: string; line: number; text: string }[] } };
    assert.equal(body.error.code, 'BRISK_RELOAD_FAILED');
    const problem = body.error.problems.find((p) => p.path === 'routes.0.upstream');
    assert.ok(problem, JSON.stringify(body.error.problems));
    assert.match(problem.message, /did you mean "app"/);
    assert.equal(problem.line, 7);
    assert.equal(gw.gw.runtime.version, before, 'runtime not swapped');
    const served = await request(`${gw.url}/still`);
    assert.equal(await served.body.text(), 'a');
    const cfg = (await (await request(`${gw.adminUrl}/api/config`)).body.json()) as { lastReloadProblems: unknown[] };
    assert.equal(cfg.lastReloadProblems.length > 0, true);
  });

  it('reloads on POST /api/reload and swaps routes', async () => {
    gw.writeConfig(config([b.url], 'moved', '/new'));
    const res = await request(`${gw.adminUrl}/api/reload`, { method: 'POST' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(await res.body.json(), { status: 'reloaded', version: gw.gw.runtime.version, restartRequired: [] });
    assert.equal((await request(`${gw.url}/old`)).statusCode, 404);
    const moved = await request(`${gw.url}/new/x`);
    assert.equal(await moved.body.text(), 'b');
    const routes = (await (await request(`${gw.adminUrl}/api/routes`)).body.json()) as { routes: { name: string }[] };
    assert.deepEqual(routes.routes.map((r) => r.name), ['moved']);
  });

  it('says which changes need a restart, in the answer and in the log, until the process runs with them', async () => {
    const reload = async (): Promise<{ status: string; version: number; restartRequired: string[] }> => {
      const res = await request(`${gw.adminUrl}/api/reload`, { method: 'POST' });
      assert.equal(res.statusCode, 200);
      return (await res.body.json()) as { status: string; version: number; restartRequired: string[] };
    };
    const port = gw.port;
    gw.writeConfig({ ...config([a.url], 'moved', '/new'), listen: [{ address: '127.0.0.1:0', name: 'renamed' }], limits: { headersTimeout: '3s', maxBodySize: '1mb' } });
    const logged = gw.logs.length;
    const first = await reload();
    assert.deepEqual(first.restartRequired, ['listen', 'limits.headersTimeout'], 'maxBodySize (route defaults) is applied live');
    assert.equal(first.status, 'reloaded');
    const warning = gw.logs.slice(logged).find((l) => l['level'] === 'warn' && Array.isArray(l['restartRequired']));
    assert.ok(warning, 'a warning in the log');
    assert.deepEqual(warning['restartRequired'], ['listen', 'limits.headersTimeout']);
    assert.match(String(warning['msg']), /listen, limits\.headersTimeout/);
    assert.equal(gw.gw.listeners[0]!.port, port, 'the listener was not rebound');
    // A later reload that changes only routes still reports what is not applied yet.
    gw.writeConfig({ ...config([b.url], 'again', '/new'), listen: [{ address: '127.0.0.1:0', name: 'renamed' }], limits: { headersTimeout: '3s' } });
    assert.deepEqual((await reload()).restartRequired, ['listen', 'limits.headersTimeout']);
    assert.equal(await (await request(`${gw.url}/new/x`)).body.text(), 'b', 'routes were reloaded');
    // Back to what the process started with: nothing left to restart for.
    gw.writeConfig(config([a.url], 'moved', '/new'));
    assert.deepEqual((await reload()).restartRequired, []);
  });
});

describe('file watch', () => {
  it('reloads when the config file changes', async () => {
    const a = await startBackend((_req, res) => void res.end('a'));
    const b = await startBackend((_req, res) => void res.end('b'));
    const gw = await startGateway(config([a.url]), { watch: true });
    try {
      assert.equal(await (await request(`${gw.url}/`)).body.text(), 'a');
      gw.writeConfig(config([b.url]));
      const deadline = Date.now() + 5000;
      let text = '';
      while (Date.now() < deadline) {
        text = await (await request(`${gw.url}/`)).body.text();
        if (text === 'b') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(text, 'b');
    } finally {
      await gw.stop();
      await a.close();
      await b.close();
    }
  });
});

describe('admin API', () => {
  it('serves health, readiness, upstreams and 404/405 as JSON', async () => {
    const a = await startBackend();
    const gw = await startGateway(config([a.url]));
    try {
      assert.equal((await request(`${gw.adminUrl}/healthz`)).statusCode, 200);
      const ready = await request(`${gw.adminUrl}/readyz`);
      assert.deepEqual(await ready.body.json(), { status: 'ready' });
      const ups = (await (await request(`${gw.adminUrl}/api/upstreams`)).body.json()) as { upstreams: { name: string; targets: { origin: string; inFlight: number }[] }[] };
      assert.equal(ups.upstreams[0]!.name, 'app');
      assert.equal(ups.upstreams[0]!.targets[0]!.origin, a.url);
      assert.equal(ups.upstreams[0]!.targets[0]!.inFlight, 0);
      const nf = await request(`${gw.adminUrl}/nope`);
      assert.equal(nf.statusCode, 404);
      assert.equal(((await nf.body.json()) as { error: { code: string } }).error.code, 'BRISK_ADMIN_NOT_FOUND');
      const na = await request(`${gw.adminUrl}/api/reload`);
      assert.equal(na.statusCode, 405);
      await na.body.dump();
      const echo = (await (await request(`${gw.url}/`)).body.json()) as EchoBody;
      assert.equal(echo.method, 'GET');
    } finally {
      await gw.stop();
      await a.close();
    }
  });
});
