/**
 * Checks an upstream's TLS files (`upstreams.<name>.tls`) when the configuration is
 * loaded, as the listeners' certificates are (`listeners/tls-material.ts`): a CA bundle
 * that holds no certificate, a client key that does not belong to its certificate or is
 * encrypted, are reported at the `ca`, `cert` or `key` line instead of failing the first
 * handshake with a target.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { PathProblem } from '../config/positions.js';
import type { UpstreamTlsConfig } from '../config/types.js';
import { checkTlsPair, type TlsFindings } from '../listeners/tls-material.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Problems and warnings of an upstream's TLS files (all known to be readable), with
 * paths relative to its `tls` key.
 *
 * @example
 * checkUpstreamTls({ caFile: '/etc/brisk/ca.pem', verify: true }); // { problems: [], warnings: [] }
 */
export function checkUpstreamTls(tls: UpstreamTlsConfig, now = Date.now()): TlsFindings {
  const problems: PathProblem[] = [];
  const warnings: PathProblem[] = [];
  if (tls.caFile !== undefined) caProblems(tls.caFile, problems, warnings, now);
  if (tls.certFile !== undefined && tls.keyFile !== undefined) {
    try {
      const found = checkTlsPair(readFileSync(tls.certFile), readFileSync(tls.keyFile), { certFile: tls.certFile, keyFile: tls.keyFile }, 'TLSv1.2', now);
      problems.push(...found.problems);
      warnings.push(...found.warnings);
    } catch (error) {
      problems.push({ path: ['cert'], message: `cannot read ${(error as NodeJS.ErrnoException).path ?? tls.certFile}: ${(error as Error).message}` });
    }
  }
  return { problems, warnings };
}

function caProblems(file: string, problems: PathProblem[], warnings: PathProblem[], now: number): void {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch (error) {
    problems.push({ path: ['ca'], message: `cannot read ${file}: ${(error as Error).message}` });
    return;
  }
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    const key = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text);
    problems.push({ path: ['ca'], message: key ? `${file} holds a private key, not CA certificates` : `${file} holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----" blocks)` });
    return;
  }
  for (const [i, block] of blocks.entries()) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch (error) {
      problems.push({ path: ['ca'], message: `certificate ${i + 1} of ${file} is not valid: ${(error as Error).message}` });
      continue;
    }
    if (Date.parse(cert.validTo) < now) {
      warnings.push({ path: ['ca'], message: `CA certificate ${i + 1} of ${file} (${cert.subject.replace(/\n/g, ', ')}) expired on ${cert.validTo}; targets whose certificates chain to it will be refused` });
    }
  }
}
