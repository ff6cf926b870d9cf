/**
 * The `ResponseTransform` of a route with `compression`: decides per response whether its
 * body is compressed, edits the head accordingly and makes the node:zlib stream that does
 * it. One instance per route (or one for the gateway's default), shared by its requests.
 */
import * as zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import type { BodyEncoding, ResponseHead, ResponseTransform } from '../../core/response-transform.js';
import { negotiate, TypeMatcher } from './negotiate.js';
import type { CompressionConfig, Encoding } from './schema.js';

/** A stored body larger than this is compressed for each client, not kept compressed as well. */
const MAX_REMEMBERED = 1024 * 1024;

/**
 * Bodies of a known length up to this are encoded in one synchronous call once complete:
 * a node:zlib stream costs about 200 µs to set up and drive, several times what gzip
 * level 6 takes for a few kilobytes; at this size the call blocks the event loop for well
 * under a millisecond, as NGINX's own (synchronous) gzip filter does. Larger and streamed
 * bodies go through a stream, off the event loop.
 */
const ONE_SHOT_MAX = 32 * 1024;

/** zstd's part of node:zlib, absent from Node 20 and its types. */
interface ZstdZlib {
  createZstdCompress(options: { params: Record<number, number> }): Transform & { flush(kind: number): void };
  zstdCompressSync(body: Buffer, options: { params: Record<number, number> }): Buffer;
  constants: { ZSTD_c_compressionLevel: number; ZSTD_c_contentSizeFlag?: number; ZSTD_e_flush: number };
}

/** What one pass over the response head found. */
interface HeadFacts {
  contentType: string | undefined;
  contentLength: number;
  encoded: boolean;
  ranged: boolean;
  noTransform: boolean;
  varyListed: boolean;
}

export class Compressor implements ResponseTransform {
  private readonly types: TypeMatcher;
  /** A stored response's body → its encodings made so far: a cache hit is compressed once per encoding, not per client. */
  private readonly remembered = new WeakMap<Buffer, Map<Encoding, Buffer>>();

  constructor(readonly config: CompressionConfig) {
    this.types = new TypeMatcher(config.types);
  }

  begin(head: ResponseHead): BodyEncoding | null {
    const { status, headers } = head;
    if (head.method === 'HEAD' || status < 200 || status === 204 || status === 206) return null;
    const facts = readHead(headers);
    if (facts.encoded || facts.ranged || facts.noTransform) return null;
    const encoding = negotiate(joined(head.requestHeaders, 'accept-encoding'), this.config.encodings);
    if (status === 304) {
      // No body, but the same validator and Vary as the 200 the client would get (RFC 9110 §15.4.5).
      if (encoding !== null) this.markVariant(headers, facts);
      return null;
    }
    if (!this.types.matches(facts.contentType)) return null;
    const size = head.body !== null ? head.body.length : facts.contentLength;
    if (size >= 0 && size < this.config.minSize) return null;
    // Eligible: the representation depends on Accept-Encoding, compressed or not.
    if (encoding === null) {
      if (!facts.varyListed) headers.push('vary', 'Accept-Encoding');
      return null;
    }
    this.markVariant(headers, facts);
    removeField(headers, 'content-length');
    // Byte ranges of the compressed body are not served.
    removeField(headers, 'accept-ranges');
    headers.push('content-encoding', encoding);
    const body = head.body;
    const remember = body !== null && head.stored && body.length <= MAX_REMEMBERED;
    if (remember) {
      const ready = this.remembered.get(body)?.get(encoding);
      if (ready !== undefined) return { kind: 'ready', body: ready };
    }
    if (size >= 0 && size <= ONE_SHOT_MAX) {
      return {
        kind: 'whole',
        encode: (whole) => {
          const encoded = this.encodeAtOnce(encoding, whole);
          if (remember) this.keep(body, encoding, encoded);
          return encoded;
        },
      };
    }
    const stream = this.encoder(encoding, size);
    if (remember) this.remember(body, encoding, stream);
    // A body the target streams (no length) is flushed after every chunk it sends, so an
    // event, a line of a log tail, a long poll's answer reach the client at once.
    const flush = body === null && facts.contentLength < 0 ? flusher(encoding, stream) : null;
    return { kind: 'stream', stream, flush };
  }

  /** `Vary: Accept-Encoding`, and a weak ETag: the compressed bytes differ from the identity ones (RFC 9110 §8.8.3). */
  private markVariant(headers: string[], facts: HeadFacts): void {
    if (!facts.varyListed) headers.push('vary', 'Accept-Encoding');
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i]!.length === 4 && headers[i]!.toLowerCase() === 'etag' && !headers[i + 1]!.startsWith('W/')) headers[i + 1] = `W/${headers[i + 1]!}`;
    }
  }

  private encoder(encoding: Encoding, size: number): Transform {
    const level = this.config.level;
    // A larger input buffer than node's 16 KiB default: fewer pauses of the target's body.
    const buffers = { writableHighWaterMark: 64 * 1024 };
    switch (encoding) {
      case 'gzip':
        return zlib.createGzip({ level: level.gzip, ...buffers });
      case 'br':
        return zlib.createBrotliCompress({ ...buffers, params: brotliParams(level.br, size) });
      case 'zstd': {
        const z = zlib as unknown as ZstdZlib;
        return z.createZstdCompress({ ...buffers, params: { [z.constants.ZSTD_c_compressionLevel]: level.zstd } });
      }
    }
  }

  /** A small body in one call. gzip's window and memory shrink with the body, as NGINX does: the same output, a cheaper start. */
  private encodeAtOnce(encoding: Encoding, body: Buffer): Buffer {
    const level = this.config.level;
    switch (encoding) {
      case 'gzip': {
        let windowBits = 15;
        let memLevel = 8;
        while (windowBits > 9 && body.length < 1 << (windowBits - 1)) {
          windowBits--;
          if (memLevel > 1) memLevel--;
        }
        return zlib.gzipSync(body, { level: level.gzip, windowBits, memLevel });
      }
      case 'br':
        return zlib.brotliCompressSync(body, { params: brotliParams(level.br, body.length) });
      case 'zstd': {
        const z = zlib as unknown as ZstdZlib;
        return z.zstdCompressSync(body, { params: { [z.constants.ZSTD_c_compressionLevel]: level.zstd } });
      }
    }
  }

  /** Keeps what the encoder makes of a stored body, for the next client asking for the same encoding. */
  private remember(body: Buffer, encoding: Encoding, stream: Transform): void {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => this.keep(body, encoding, Buffer.concat(chunks)));
  }

  private keep(body: Buffer, encoding: Encoding, encoded: Buffer): void {
    let byEncoding = this.remembered.get(body);
    if (byEncoding === undefined) this.remembered.set(body, (byEncoding = new Map()));
    byEncoding.set(encoding, encoded);
  }
}

function brotliParams(quality: number, size: number): Record<number, number> {
  const params: Record<number, number> = { [zlib.constants.BROTLI_PARAM_QUALITY]: quality, [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT };
  if (size > 0) params[zlib.constants.BROTLI_PARAM_SIZE_HINT] = size;
  return params;
}

/** The flush that makes the encoder emit what it holds without ending the stream (and without resetting its dictionary). */
function flusher(encoding: Encoding, stream: Transform): () => void {
  const s = stream as Transform & { flush(kind: number): void };
  const kind =
    encoding === 'gzip' ? zlib.constants.Z_SYNC_FLUSH : encoding === 'br' ? zlib.constants.BROTLI_OPERATION_FLUSH : (zlib as unknown as ZstdZlib).constants.ZSTD_e_flush;
  return () => s.flush(kind);
}

function readHead(headers: readonly string[]): HeadFacts {
  const facts: HeadFacts = { contentType: undefined, contentLength: -1, encoded: false, ranged: false, noTransform: false, varyListed: false };
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    const value = headers[i + 1]!;
    switch (name) {
      case 'content-type':
        facts.contentType ??= value;
        break;
      case 'content-length':
        facts.contentLength = Number(value);
        break;
      case 'content-encoding':
        if (value.trim().toLowerCase() !== 'identity' && value.trim() !== '') facts.encoded = true;
        break;
      case 'content-range':
        facts.ranged = true;
        break;
      case 'cache-control':
        if (/(^|,)\s*no-transform\s*(,|$)/i.test(value)) facts.noTransform = true;
        break;
      case 'vary':
        if (/(^|,)\s*(accept-encoding|\*)\s*(,|$)/i.test(value)) facts.varyListed = true;
        break;
    }
  }
  return facts;
}

/** Every value of a field in a flat list, joined with commas; undefined when absent. */
function joined(list: readonly string[], lower: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    if (name.length === lower.length && name.toLowerCase() === lower) out = out === undefined ? list[i + 1]! : `${out}, ${list[i + 1]!}`;
  }
  return out;
}

function removeField(list: string[], lower: string): void {
  let w = 0;
  for (let r = 0; r < list.length; r += 2) {
    if (list[r]!.length === lower.length && list[r]!.toLowerCase() === lower) continue;
    list[w] = list[r]!;
    list[w + 1] = list[r + 1]!;
    w += 2;
  }
  list.length = w;
}
