import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { ListenerConfig } from '../config/types.js';
import { BriskError } from '../core/errors.js';
import { checkTlsPair } from './tls-material.js';

type TlsConfig = NonNullable<ListenerConfig['tls']>;

/** The TLS options for a listener: a default certificate and an SNI lookup for the rest. */
export interface TlsSetup {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly SNICallback: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
  /** The names each certificate answers for, for the admin API and logs. */
  readonly names: readonly (readonly string[])[];
}

/**
 * Reads every certificate of a listener and builds the SNI table. Exact names win over
 * wildcards; a wildcard covers one label (`*.example.com` matches `a.example.com`, as
 * browsers do); an unknown name gets the first certificate.
 */
export function loadTls(tls: TlsConfig, listenerName: string): TlsSetup {
  const exact = new Map<string, SecureContext>();
  const wildcard = new Map<string, SecureContext>();
  const names: string[][] = [];
  let first: { cert: Buffer; key: Buffer } | undefined;
  for (const c of tls.certificates) {
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = readFileSync(c.certFile);
      key = readFileSync(c.keyFile);
    } catch (err) {
      throw new BriskError('BRISK_TLS_FILE_UNREADABLE', `listener "${listenerName}": cannot read ${(err as NodeJS.ErrnoException).path ?? c.certFile}: ${(err as Error).message}`);
    }
    // Checked at load already (config/tls-material.ts); checked again because the files may
    // have changed since, and this is what the listener is about to use.
    const { problems } = checkTlsPair(cert, key, { certFile: c.certFile, keyFile: c.keyFile }, tls.minVersion);
    if (problems.length > 0) throw new BriskError('BRISK_TLS_FILE_UNREADABLE', `listener "${listenerName}": ${problems.map((p) => p.message).join('; ')}`);
    let context: SecureContext;
    let certNames: string[];
    try {
      context = createSecureContext({ cert, key, minVersion: tls.minVersion });
      certNames = c.serverNames !== undefined ? [...c.serverNames] : namesInCertificate(cert);
    } catch (err) {
      throw new BriskError('BRISK_TLS_FILE_UNREADABLE', `listener "${listenerName}": certificate ${c.certFile} or key ${c.keyFile} is invalid: ${(err as Error).message}`);
    }
    first ??= { cert, key };
    for (const raw of certNames) {
      const name = raw.toLowerCase();
      if (name.startsWith('*.')) {
        if (!wildcard.has(name.slice(2))) wildcard.set(name.slice(2), context);
      } else if (!exact.has(name)) exact.set(name, context);
    }
    names.push(certNames);
  }
  return {
    cert: first!.cert,
    key: first!.key,
    names,
    SNICallback(servername, cb) {
      const name = servername.toLowerCase();
      let ctx = exact.get(name);
      if (ctx === undefined) {
        const dot = name.indexOf('.');
        if (dot !== -1) ctx = wildcard.get(name.slice(dot + 1));
      }
      // undefined: node falls back to the server's default certificate.
      cb(null, ctx);
    },
  };
}

/** DNS names from a certificate's subjectAltName, or its CN when it has none. */
function namesInCertificate(pem: Buffer): string[] {
  const x509 = new X509Certificate(pem);
  const san = x509.subjectAltName;
  if (san !== undefined) {
    const dns = san
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.startsWith('DNS:'))
      .map((s) => s.slice(4));
    if (dns.length > 0) return dns;
  }
  const cn = /CN=([^\n,]+)/.exec(x509.subject);
  return cn ? [cn[1]!.trim()] : [];
}

