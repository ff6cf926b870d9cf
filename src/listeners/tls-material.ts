/**
 * Checks a listener's certificate and key when the configuration is loaded, so that
 * `brisk check`, start-up and reload report a garbage certificate, an unusable key or a
 * key of another certificate at the `cert` or `key` line of the file, instead of a TLS
 * error when the listener starts (or, worse, on the first handshake).
 *
 * Validity dates are warnings, not problems: an expired certificate is an outage for
 * clients that verify it, but refusing to start or to reload would make it one for every
 * client (some skip verification or pin the key), and would block an unrelated
 * emergency reload. The warning names the date; a certificate that expires within
 * {@link EXPIRY_WARNING_DAYS} days is warned about too, while there is time to renew it.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { PathProblem } from '../config/positions.js';

/** A certificate closer than this to its end gets a warning. */
export const EXPIRY_WARNING_DAYS = 7;

const DAY_MS = 86_400_000;

/** What is wrong with a certificate and key pair; paths are `['cert']` or `['key']`. */
export interface TlsFindings {
  readonly problems: PathProblem[];
  readonly warnings: PathProblem[];
}

/**
 * Reads and checks one `cert`/`key` pair (both files known to be readable).
 *
 * @example
 * const { problems } = checkTlsFiles('/etc/brisk/a.crt', '/etc/brisk/a.key', 'TLSv1.2');
 * // [{ path: ['key'], message: 'key /etc/brisk/a.key does not belong to certificate /etc/brisk/a.crt (CN=a.test); …' }]
 */
export function checkTlsFiles(certFile: string, keyFile: string, minVersion: 'TLSv1.2' | 'TLSv1.3', now = Date.now()): TlsFindings {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(certFile);
    key = readFileSync(keyFile);
  } catch (error) {
    return { problems: [{ path: ['cert'], message: `cannot read ${(error as NodeJS.ErrnoException).path ?? certFile}: ${(error as Error).message}` }], warnings: [] };
  }
  return checkTlsPair(cert, key, { certFile, keyFile }, minVersion, now);
}

/** {@link checkTlsFiles} on bytes already read (the listener checks what it is about to use). */
export function checkTlsPair(cert: Buffer, key: Buffer, files: { certFile: string; keyFile: string }, minVersion: 'TLSv1.2' | 'TLSv1.3', now = Date.now()): TlsFindings {
  const problems: PathProblem[] = [];
  const warnings: PathProblem[] = [];
  const { certFile, keyFile } = files;
  let x509: X509Certificate | undefined;
  try {
    x509 = new X509Certificate(cert);
  } catch (error) {
    problems.push({ path: ['cert'], message: unreadable('certificate', certFile, cert, 'CERTIFICATE', error) });
  }
  let privateKey: KeyObject | undefined;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    problems.push({ path: ['key'], message: unreadable('key', keyFile, key, 'PRIVATE KEY', error) });
  }
  if (x509 === undefined || privateKey === undefined) return { problems, warnings };
  const subject = x509.subject.replace(/\n/g, ', ');
  if (!x509.checkPrivateKey(privateKey)) {
    problems.push({ path: ['key'], message: `key ${keyFile} does not belong to certificate ${certFile} (${subject}); use the key the certificate was issued for` });
    return { problems, warnings };
  }
  // What the listener will do with them: catches what OpenSSL refuses beyond parsing (a key too small for its security level).
  try {
    createSecureContext({ cert, key, minVersion });
  } catch (error) {
    problems.push({ path: ['cert'], message: `certificate ${certFile} with key ${keyFile} cannot be used for TLS: ${(error as Error).message}` });
    return { problems, warnings };
  }
  const notBefore = Date.parse(x509.validFrom);
  const notAfter = Date.parse(x509.validTo);
  if (now > notAfter) {
    warnings.push({ path: ['cert'], message: `certificate ${certFile} (${subject}) expired on ${x509.validTo}; clients that verify it will refuse the connection. Renew it` });
  } else if (now < notBefore) {
    warnings.push({ path: ['cert'], message: `certificate ${certFile} (${subject}) is not valid before ${x509.validFrom}; clients that verify it will refuse the connection until then (is this machine's clock right?)` });
  } else if (notAfter - now < EXPIRY_WARNING_DAYS * DAY_MS) {
    warnings.push({ path: ['cert'], message: `certificate ${certFile} (${subject}) expires on ${x509.validTo}, in less than ${EXPIRY_WARNING_DAYS} days; renew it` });
  }
  return { problems, warnings };
}

/** Why a certificate or key file cannot be parsed, with the likely mistake named. */
function unreadable(what: 'certificate' | 'key', file: string, bytes: Buffer, label: string, error: unknown): string {
  const text = bytes.toString('latin1');
  if (what === 'key' && /-----BEGIN (RSA |EC )?PRIVATE KEY-----[\s\S]*ENCRYPTED|-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(text)) {
    return `key ${file} is encrypted with a passphrase; Brisk needs an unencrypted key (openssl pkey -in ${file} -out ${file}.plain)`;
  }
  const other = what === 'certificate' ? /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text) : /-----BEGIN CERTIFICATE-----/.test(text) && !/PRIVATE KEY-----/.test(text);
  if (other) return `${file} holds a ${what === 'certificate' ? 'private key' : 'certificate'}, not a ${what}: are cert and key swapped?`;
  if (!text.includes('-----BEGIN')) return `${file} is not a PEM ${what} (expected a "-----BEGIN ${label}-----" block)`;
  return `${file} is not a valid ${what}: ${(error as Error).message}`;
}
