/**
 * Opening a connection to a target: TCP for `http://` and `h2c://`, TLS for `https://`
 * with the upstream's `tls` settings (CA bundle, verification, SNI, client certificate)
 * and the ALPN protocols the upstream's `http2` mode offers.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { h2Error } from './stream.js';

/** The TLS material of an upstream, read from its files. */
export interface TlsMaterial {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** Verify the target's certificate chain and name. */
  readonly verify: boolean;
  /** SNI and the name verified; undefined: the URL's host (none for an IP address). */
  readonly servername?: string;
}

/** Where and how to connect. */
export interface ConnectTarget {
  readonly host: string;
  readonly port: number;
  /** Null: plain TCP. */
  readonly tls: TlsMaterial | null;
  /** ALPN protocols offered, most preferred first (TLS only). */
  readonly alpn: readonly string[];
  readonly timeoutMs: number;
}

/** Host and port of an origin (`h2c://`, `http://`, `https://`), IPv6 brackets removed. */
export function hostPortOf(origin: string): { host: string; port: number; secure: boolean } {
  const url = new URL(origin);
  const secure = url.protocol === 'https:';
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: url.port === '' ? (secure ? 443 : 80) : Number(url.port), secure };
}

/**
 * The node TLS options for a target: SNI from the settings or the host name (never an IP
 * address, RFC 6066 §3). Node verifies the certificate against the SNI name when there is
 * one, else against the host dialled.
 */
export function tlsOptions(host: string, tls: TlsMaterial, alpn: readonly string[]): ConnectionOptions {
  const servername = tls.servername ?? (isIP(host) === 0 ? host : undefined);
  const options: ConnectionOptions = { ...tlsMaterialOptions(tls), host, ALPNProtocols: [...alpn] };
  if (servername !== undefined) options.servername = servername;
  return options;
}

/** The TLS options of the material alone (CA, client certificate, verification, a configured SNI name), for any host. */
export function tlsMaterialOptions(tls: TlsMaterial): ConnectionOptions {
  const options: ConnectionOptions = { rejectUnauthorized: tls.verify };
  if (tls.servername !== undefined) options.servername = tls.servername;
  if (tls.ca !== undefined) options.ca = tls.ca;
  if (tls.cert !== undefined) options.cert = tls.cert;
  if (tls.key !== undefined) options.key = tls.key;
  return options;
}

/**
 * Opens a connected socket (TLS handshake done); rejects with an undici-style code
 * (`UND_ERR_CONNECT_TIMEOUT`) or the socket's own error.
 */
export function openSocket(target: ConnectTarget): Promise<Socket | TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = target.tls === null ? netConnect({ host: target.host, port: target.port, noDelay: true }) : tlsConnect({ ...tlsOptions(target.host, target.tls, target.alpn), port: target.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(h2Error('UND_ERR_CONNECT_TIMEOUT', `connect timeout after ${target.timeoutMs}ms`));
    }, target.timeoutMs);
    const onError = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once('error', onError);
    socket.once(target.tls === null ? 'connect' : 'secureConnect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}
