/**
 * Reading and writing HTTP/1.1 at the byte level, for tests that must see exactly what
 * went over the wire: how many responses, whether a body was complete, when the server
 * closed. Complements `rawRequest` (one payload, one reply) with a connection the test
 * drives step by step.
 */
import { connect, type Socket } from 'node:net';

/** One response as read from the wire. */
export interface WireResponse {
  readonly status: number;
  /** Header names lower-cased; repeated names joined with ", ". */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

/** Every response found in `text`, in order, and what is left that is not a whole response. */
export interface ParsedResponses {
  readonly responses: readonly WireResponse[];
  /** Bytes after the last complete response: '' when the stream was well formed. */
  readonly rest: string;
}

/**
 * Splits a server's byte stream into responses. A body is framed by Content-Length, by
 * chunked coding, or (neither given) runs to the end of the stream when `closed`.
 * 1xx, 204 and 304 have no body; neither has an answer to HEAD (`headRequest`).
 */
export function parseResponses(text: string, options: { closed?: boolean; headRequest?: boolean } = {}): ParsedResponses {
  const responses: WireResponse[] = [];
  let pos = 0;
  while (pos < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', pos);
    if (headEnd === -1) break;
    const lines = text.slice(pos, headEnd).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: [^\r\n]*)?$/.exec(lines[0]!);
    if (m === null) break;
    const status = Number(m[1]);
    const headers = new Map<string, string>();
    let malformed = false;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(line.slice(0, colon))) {
        malformed = true;
        break;
      }
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
    }
    if (malformed) break;
    let bodyStart = headEnd + 4;
    let body: string;
    const noBody = status < 200 || status === 204 || status === 304 || options.headRequest === true;
    const te = headers.get('transfer-encoding');
    const cl = headers.get('content-length');
    if (noBody) {
      body = '';
    } else if (te !== undefined) {
      if (te.toLowerCase() !== 'chunked') break;
      const decoded = decodeChunked(text, bodyStart);
      if (decoded === null) break;
      body = decoded.body;
      bodyStart = decoded.end;
    } else if (cl !== undefined) {
      if (!/^\d+$/.test(cl)) break;
      const length = Number(cl);
      if (bodyStart + length > text.length) break;
      body = text.slice(bodyStart, bodyStart + length);
      bodyStart += length;
    } else {
      if (options.closed !== true) break;
      body = text.slice(bodyStart);
      bodyStart = text.length;
    }
    responses.push({ status, headers, body });
    pos = status < 200 ? headEnd + 4 : bodyStart;
  }
  return { responses, rest: text.slice(pos) };
}

function decodeChunked(text: string, start: number): { body: string; end: number } | null {
  let pos = start;
  let body = '';
  for (;;) {
    const lineEnd = text.indexOf('\r\n', pos);
    if (lineEnd === -1) return null;
    const sizeText = text.slice(pos, lineEnd).split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) return null;
    const size = parseInt(sizeText, 16);
    pos = lineEnd + 2;
    if (size === 0) {
      // Trailers, then an empty line.
      for (;;) {
        const end = text.indexOf('\r\n', pos);
        if (end === -1) return null;
        const line = text.slice(pos, end);
        pos = end + 2;
        if (line === '') return { body, end: pos };
      }
    }
    if (pos + size + 2 > text.length || text.slice(pos + size, pos + size + 2) !== '\r\n') return null;
    body += text.slice(pos, pos + size);
    pos += size + 2;
  }
}

/** The JSON error body Brisk answers with, parsed; throws when the body is not one. */
export function errorOf(response: WireResponse): { code: string; message: string; requestId: string | null } {
  const parsed = JSON.parse(response.body) as { error?: { code: string; message: string; requestId: string | null } };
  if (parsed.error === undefined) throw new Error(`not a Brisk error body: ${response.body}`);
  return parsed.error;
}

/** A client connection the test drives: write when it wants, see everything the server sent. */
export interface RawConnection {
  readonly socket: Socket;
  /** Everything received so far (latin1). */
  text(): string;
  /** True once the server ended or the connection closed. */
  readonly closed: boolean;
  /** Writes bytes; errors after the server closed are swallowed (that is what is tested). */
  write(bytes: string | Buffer): void;
  /** Resolves when the server has closed the connection, or after `timeoutMs` (then false). */
  waitClosed(timeoutMs: number): Promise<boolean>;
  /** Resolves when the received bytes satisfy `test`, or after `timeoutMs` (then false). */
  waitFor(test: (text: string) => boolean, timeoutMs: number): Promise<boolean>;
  destroy(): void;
}

/** Opens a TCP connection to 127.0.0.1:`port` and resolves once connected. */
export function openRaw(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closed = false;
    let listeners: (() => void)[] = [];
    const notify = () => {
      const current = listeners;
      listeners = [];
      for (const l of current) l();
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      notify();
    });
    const onClose = () => {
      closed = true;
      notify();
    };
    socket.on('end', onClose);
    socket.on('close', onClose);
    socket.on('error', onClose);
    const text = () => Buffer.concat(chunks).toString('latin1');
    const waitUntil = (test: () => boolean, timeoutMs: number) =>
      new Promise<boolean>((done) => {
        if (test()) return done(true);
        const timer = setTimeout(() => {
          listeners = listeners.filter((l) => l !== check);
          done(false);
        }, timeoutMs);
        const check = () => {
          if (test()) {
            clearTimeout(timer);
            done(true);
          } else listeners.push(check);
        };
        listeners.push(check);
      });
    const conn: RawConnection = {
      socket,
      text,
      get closed() {
        return closed;
      },
      write(bytes) {
        if (!closed && !socket.destroyed) socket.write(bytes, () => {});
      },
      waitClosed: (timeoutMs) => waitUntil(() => closed, timeoutMs),
      waitFor: (test, timeoutMs) => waitUntil(() => test(text()), timeoutMs),
      destroy: () => socket.destroy(),
    };
    let connected = false;
    socket.once('connect', () => {
      connected = true;
      resolve(conn);
    });
    socket.once('error', (err) => {
      if (!connected) reject(err);
    });
  });
}
