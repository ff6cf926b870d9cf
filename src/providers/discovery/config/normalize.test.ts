import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { expectProblem, expectProblems, expectValid, where } from '../../../config/testing.js';

const HEAD = `listen:
  - address: 127.0.0.1:0
routes:
  - name: app
    upstream: app
upstreams:
  app:
`;

describe('discovery config', () => {
  it('normalises a file provider: path from the config file, guards and snapshot defaults', () => {
    const { config } = expectValid(`${HEAD}    discovery:\n      file: { path: targets.yaml }\n`, '/etc/brisk/brisk.yaml');
    const d = config.upstreams['app']!.discovery!;
    assert.deepEqual(d.provider, { kind: 'file', path: '/etc/brisk/targets.yaml', intervalMs: 5000 });
    assert.equal(d.minTargets, 1);
    assert.equal(d.scheme, 'http');
    assert.equal(d.weight, 1);
    assert.equal(d.snapshotFile, '/etc/brisk/.brisk/discovery/app.json');
    assert.equal(d.startWaitMs, 3000);
    assert.equal(config.upstreams['app']!.targets.length, 0, 'an upstream with discovery needs no targets');
  });

  it('takes minTargets 0, a snapshot path or none', () => {
    const a = expectValid(`${HEAD}    discovery:\n      file: { path: /t.json }\n      minTargets: 0\n      snapshot: state/app.json\n`, '/srv/brisk.yaml').config.upstreams['app']!.discovery!;
    assert.equal(a.minTargets, 0);
    assert.equal(a.snapshotFile, '/srv/state/app.json');
    const b = expectValid(`${HEAD}    discovery:\n      file: { path: /t.json }\n      snapshot: false\n`).config.upstreams['app']!.discovery!;
    assert.equal(b.snapshotFile, null);
  });

  it('refuses a block without a provider, with two, and an unknown key, each at its place', () => {
    const none = `${HEAD}    discovery:\n      minTargets: 2\n`;
    expectProblem(expectProblems(none), 'upstreams.app.discovery', /discovery needs one provider: file/, where(none, 'discovery:'));
    const unknown = `${HEAD}    discovery:\n      fiel: { path: /x }\n`;
    const problems = expectProblems(unknown);
    assert.ok(problems.some((p) => /fiel/.test(p.message) && /file/.test(p.message)), problems.map((p) => p.message).join('\n'));
  });

  it('still refuses an upstream with neither targets nor discovery', () => {
    const text = `${HEAD}    balancer: round-robin\n`;
    expectProblem(expectProblems(text), 'upstreams.app', /has no targets: list them under targets, find them with discovery/, { line: 7, column: 3 });
  });
});

describe('discovery loads lazily', () => {
  // A config without discovery must load nothing of it: outside src/providers/discovery/,
  // only its config modules may be imported statically (type imports are erased), and the
  // descriptors reach the implementations only through `load()`.
  const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..', 'src');
  const files = (dir: string, out: string[] = []): string[] => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) files(p, out);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(p);
    }
    return out;
  };
  it('has no static value import of a discovery implementation outside the discovery folder, nor from its config modules', () => {
    const offenders: string[] = [];
    for (const file of files(SRC)) {
      const rel = relative(SRC, file);
      const insideImpl = rel.startsWith('providers/discovery/') && !rel.startsWith('providers/discovery/config/');
      if (insideImpl) continue;
      for (const m of readFileSync(file, 'utf8').matchAll(/(?:^|\n)\s*(import|export)\s+(?!type\s)[^'"`;]*?from\s+['"](\.[^'"]+)['"]/g)) {
        const target = relative(SRC, resolve(dirname(file), m[2]!));
        if (target.startsWith('providers/discovery/') && !target.startsWith('providers/discovery/config/')) offenders.push(`${rel} → ${target}`);
      }
    }
    assert.deepEqual(offenders, []);
  });
  it('takes the Redis registry as one server (url) or through Sentinel, with the connection keys rate limits use', () => {
    const url = expectValid(`${HEAD}    discovery:\n      redis: { url: "redis://127.0.0.1:6379/2", service: orders }\n`).config.upstreams['app']!.discovery!;
    assert.deepEqual(url.provider, { kind: 'redis', endpoint: { kind: 'url', url: 'redis://127.0.0.1:6379/2' }, service: 'orders', prefix: 'brisk:registry:', channel: 'brisk:registry:events', intervalMs: 1000 });
    const sentinel = expectValid(`${HEAD}    discovery:\n      redis: { sentinels: ["127.0.0.1:26379", "127.0.0.1:26380"], name: brisk, db: 1, service: orders }\n`).config.upstreams['app']!.discovery!;
    assert.deepEqual(sentinel.provider.kind === 'redis' && sentinel.provider.endpoint, { kind: 'sentinel', sentinels: [{ host: '127.0.0.1', port: 26379 }, { host: '127.0.0.1', port: 26380 }], name: 'brisk', username: null, password: null, sentinelPassword: null, db: 1, tls: false });
    const noName = expectProblems(`${HEAD}    discovery:\n      redis: { sentinels: ["127.0.0.1:26379"], service: orders }\n`);
    assert.ok(noName.some((p) => p.path === 'upstreams.app.discovery.redis.sentinels' && /needs `name`/.test(p.message)), JSON.stringify(noName));
    const both = expectProblems(`${HEAD}    discovery:\n      redis: { url: "redis://127.0.0.1:6379", sentinels: ["127.0.0.1:26379"], name: brisk, service: orders }\n`);
    assert.ok(both.some((p) => p.path === 'upstreams.app.discovery.redis.url'), JSON.stringify(both));
    const neither = expectProblems(`${HEAD}    discovery:\n      redis: { service: orders }\n`);
    assert.ok(neither.some((p) => p.path === 'upstreams.app.discovery.redis' && /say where Redis is/.test(p.message)), JSON.stringify(neither));
  });
});
