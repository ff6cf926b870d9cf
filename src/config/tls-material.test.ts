import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { formatProblem } from './load.js';
import { expectProblems, expectValid } from './testing.js';
import { checkTlsFiles, EXPIRY_WARNING_DAYS } from '../listeners/tls-material.js';

const DAY = 86_400_000;

describe('TLS material checked at load', () => {
  let dir: string;
  /** A self-signed certificate for `cn`, valid for 30 days from now, and its key. */
  const pair = (name: string, cn: string) => {
    const cert = join(dir, `${name}.crt`);
    const key = join(dir, `${name}.key`);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '30', '-subj', `/CN=${cn}`], { stdio: 'ignore' });
    return { cert, key };
  };
  let a: { cert: string; key: string };
  let b: { cert: string; key: string };
  const file = (name: string, text: string | Buffer) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const check = (cert: string, key: string, now?: number) => checkTlsFiles(cert, key, 'TLSv1.2', now);
  const messages = (list: readonly { path: readonly (string | number)[]; message: string }[]) => list.map((p) => `${p.path.join('.')}: ${p.message}`);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'brisk-tls-material-'));
    a = pair('a', 'a.test');
    b = pair('b', 'b.test');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a certificate with its own key: nothing to say', () => {
    assert.deepEqual(check(a.cert, a.key), { problems: [], warnings: [] });
  });

  test('garbage, a key of another certificate, swapped files, an encrypted key, a DER certificate', () => {
    const garbage = file('garbage.crt', 'this is not PEM\n');
    assert.deepEqual(messages(check(garbage, a.key).problems), [`cert: ${garbage} is not a PEM certificate (expected a "-----BEGIN CERTIFICATE-----" block)`]);
    const broken = file('broken.crt', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    assert.match(messages(check(broken, a.key).problems)[0]!, /^cert: .*broken\.crt is not a valid certificate: /);
    assert.deepEqual(messages(check(a.cert, b.key).problems), [`key: key ${b.key} does not belong to certificate ${a.cert} (CN=a.test); use the key the certificate was issued for`]);
    assert.deepEqual(messages(check(a.key, a.cert).problems), [
      `cert: ${a.key} holds a private key, not a certificate: are cert and key swapped?`,
      `key: ${a.cert} holds a certificate, not a key: are cert and key swapped?`,
    ]);
    const encrypted = join(dir, 'encrypted.key');
    execFileSync('openssl', ['pkey', '-in', a.key, '-aes128', '-passout', 'pass:secret', '-out', encrypted], { stdio: 'ignore' });
    assert.deepEqual(messages(check(a.cert, encrypted).problems), [`key: key ${encrypted} is encrypted with a passphrase; Brisk needs an unencrypted key (openssl pkey -in ${encrypted} -out ${encrypted}.plain)`]);
    const der = join(dir, 'a.der');
    execFileSync('openssl', ['x509', '-in', a.cert, '-outform', 'DER', '-out', der], { stdio: 'ignore' });
    assert.match(messages(check(der, a.key).problems)[0]!, /^cert: certificate .*a\.der with key .*a\.key cannot be used for TLS: /);
  });

  test('validity dates are warnings: expired, not yet valid, expiring soon', () => {
    const expired = check(a.cert, a.key, Date.now() + 31 * DAY);
    assert.deepEqual(expired.problems, []);
    assert.match(messages(expired.warnings)[0]!, /^cert: certificate .*a\.crt \(CN=a\.test\) expired on .* GMT; clients that verify it will refuse the connection\. Renew it$/);
    assert.match(messages(check(a.cert, a.key, Date.now() - DAY).warnings)[0]!, /is not valid before .* GMT; .*is this machine's clock right\?/);
    assert.match(messages(check(a.cert, a.key, Date.now() + (30 - EXPIRY_WARNING_DAYS + 1) * DAY).warnings)[0]!, /expires on .* GMT, in less than 7 days; renew it$/);
  });

  test('in a config file: problems at the cert or key line, so `brisk check` and reloads refuse them', () => {
    const config = (cert: string, key: string) => `listen:
  - address: 127.0.0.1:0
    tls:
      certificates:
        - cert: ${cert}
          key: ${key}
upstreams:
  app: { targets: [{ url: "http://127.0.0.1:7001" }] }
routes:
  - { name: all, upstream: app }
`;
    expectValid(config(a.cert, a.key));
    const mismatch = expectProblems(config(a.cert, b.key));
    assert.deepEqual(mismatch.map(formatProblem), [`test.yaml:6:16  listen.0.tls.certificates.0.key  key ${b.key} does not belong to certificate ${a.cert} (CN=a.test); use the key the certificate was issued for`]);
    const garbage = file('garbage2.crt', 'nope');
    const bad = expectProblems(config(garbage, a.key));
    assert.deepEqual(bad.map((p) => [p.path, p.line, p.column]), [['listen.0.tls.certificates.0.cert', 5, 17]]);
  });
});
