/**
 * TLS to upstreams: a private CA (`tls.ca`), the name checked (`tls.servername`, SNI),
 * mutual TLS (`tls.cert`/`tls.key`), `verify: false`, HTTP/2 by ALPN (`http2: auto`, `on`,
 * `off`); failures answered as `BRISK_UPSTREAM_TLS_FAILED`; bad files refused when the
 * config loads, at their line.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { expectProblem, expectProblems, where } from '../src/config/testing.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

const ssl = (dir: string, ...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });

/** A CA, and a certificate it signed for `cn` (also the SAN), with its key: file paths. */
function issue(dir: string, ca: string, name: string, cn: string): { cert: string; key: string } {
  ssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=DNS:${cn}\n`);
  ssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

function makeCa(dir: string, name: string): string {
  ssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`);
  return join(dir, `${name}.crt`);
}

describe('TLS to upstreams', () => {
  let dir: string;
  let ca: string;
  let client: { cert: string; key: string };
  let mtlsServer: https.Server;
  let h2Server: http2.Http2SecureServer;
  let gw: TestGateway;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'brisk-upstream-tls-'));
    ca = makeCa(dir, 'ca');
    const clientCa = makeCa(dir, 'client-ca');
    const server = issue(dir, 'ca', 'server', 'backend.test');
    client = issue(dir, 'client-ca', 'client', 'gateway-client');
    // HTTP/1.1 only, and it wants a client certificate from the client CA.
    mtlsServer = https.createServer({ cert: readFileSync(server.cert), key: readFileSync(server.key), ca: readFileSync(clientCa), requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      res.end(JSON.stringify({ version: req.httpVersion, client: peer.subject?.CN ?? null, sni: (req.socket as TLSSocket & { servername?: string }).servername }));
    });
    h2Server = http2.createSecureServer({ cert: readFileSync(server.cert), key: readFileSync(server.key), allowHTTP1: true }, (req, res) => {
      res.end(JSON.stringify({ version: req.httpVersion }));
    });
    await new Promise<void>((r) => mtlsServer.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => h2Server.listen(0, '127.0.0.1', r));
    const mtls = `https://127.0.0.1:${(mtlsServer.address() as { port: number }).port}`;
    const h2 = `https://127.0.0.1:${(h2Server.address() as { port: number }).port}`;
    const trusted = { ca, servername: 'backend.test' };
    const up = (url: string, extra: object = {}) => ({ targets: [{ url }], retry: { attempts: 0 }, ...extra });
    gw = await startGateway({
      upstreams: {
        mtls: up(mtls, { tls: { ...trusted, cert: client.cert, key: client.key } }),
        mtlsNoCert: up(mtls, { tls: trusted }),
        untrusted: up(h2),
        auto: up(h2, { tls: trusted }),
        off: up(h2, { tls: trusted, http2: 'off' }),
        wrongName: up(h2, { tls: { ca, servername: 'other.test' } }),
        noVerify: up(h2, { tls: { verify: false } }),
        h2Only: up(mtls, { tls: { ...trusted, cert: client.cert, key: client.key }, http2: 'on' }),
      },
      routes: ['mtls', 'mtlsNoCert', 'untrusted', 'auto', 'off', 'wrongName', 'noVerify', 'h2Only'].map((name) => ({ name, match: { pathPrefix: `/${name}` }, upstream: name })),
    });
  });

  after(async () => {
    await gw?.stop();
    mtlsServer?.close();
    h2Server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = async (path: string) => {
    const res = await fetch(gw.url + path);
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown> & { error?: { code: string } } };
  };

  it('verifies the target against the CA bundle and the servername, and presents the client certificate (mTLS)', async () => {
    const { status, body } = await get('/mtls');
    assert.equal(status, 200);
    assert.deepEqual(body, { version: '1.1', client: 'gateway-client', sni: 'backend.test' });
  });

  it('speaks HTTP/2 when the target picks it by ALPN (http2: auto), HTTP/1.1 with http2: off', async () => {
    assert.deepEqual((await get('/auto')).body, { version: '2.0' });
    assert.deepEqual((await get('/off')).body, { version: '1.1' });
  });

  it('refuses an untrusted certificate or one for another name with BRISK_UPSTREAM_TLS_FAILED', async () => {
    for (const path of ['/untrusted', '/wrongName']) {
      const { status, body } = await get(path);
      assert.equal(status, 502, path);
      assert.equal(body.error?.code, 'BRISK_UPSTREAM_TLS_FAILED', path);
    }
    assert.ok(gw.logs.some((l) => l['msg'] === 'TLS handshake with the target failed' && String(l['reason']).length > 0), 'the reason is logged');
  });

  it('accepts any certificate with verify: false', async () => {
    assert.deepEqual((await get('/noVerify')).body, { version: '2.0' });
  });

  it('fails a target that does not agree to HTTP/2 when http2 is on', async () => {
    const { status, body } = await get('/h2Only');
    assert.equal(status, 502);
    assert.equal(body.error?.code, 'BRISK_UPSTREAM_TLS_FAILED');
  });

  it('is refused by a target that wants a client certificate when none is configured', async () => {
    const { status } = await get('/mtlsNoCert');
    assert.equal(status, 502);
  });

  it('reports bad TLS files at their line when the config loads', () => {
    const notPem = join(dir, 'not-pem.crt');
    writeFileSync(notPem, 'hello\n');
    const text = `listen:
  - address: 127.0.0.1:0
upstreams:
  a:
    targets: [{ url: "https://127.0.0.1:7001" }]
    tls:
      ca: ${notPem}
  b:
    targets: [{ url: "https://127.0.0.1:7002" }]
    tls:
      cert: ${client.cert}
      key: ${join(dir, 'server.key')}
  c:
    targets: [{ url: "https://127.0.0.1:7003" }]
    tls:
      cert: ${client.cert}
  d:
    targets: [{ url: "https://127.0.0.1:7004" }]
    tls:
      ca: ${join(dir, 'missing.pem')}
routes:
  - { name: a, upstream: a }
  - { name: b, upstream: b }
  - { name: c, upstream: c }
  - { name: d, upstream: d }
`;
    const problems = expectProblems(text);
    expectProblem(problems, 'upstreams.a.tls.ca', `${notPem} holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----" blocks)`, where(text, notPem));
    expectProblem(problems, 'upstreams.b.tls.key', /does not belong to certificate/, where(text, join(dir, 'server.key')));
    expectProblem(problems, 'upstreams.c.tls.cert', 'a client certificate needs both cert and key', where(text, 'cert:', 2));
    expectProblem(problems, 'upstreams.d.tls.ca', `CA bundle file not found: ${join(dir, 'missing.pem')}`, where(text, join(dir, 'missing.pem')));
  });
});
