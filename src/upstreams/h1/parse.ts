/**
 * A strict parser of HTTP/1.1 responses, for the lean upstream transport (`pool.transport:
 * lean`). Node's own llhttp binding is reachable only through `process.binding`, which is
 * deprecated (DEP0111) and not a supported interface, and undici's copy is a WebAssembly
 * module behind its internals: so the response side is parsed here, by hand. It reads
 * what a target may send — status line, header fields, `Content-Length`, chunked coding
 * with trailers, bodies that end with the connection, answers without a body (HEAD, 1xx,
 * 204, 304) — and refuses everything else with an `HPE_*` code (the codes llhttp gives),
 * which `upstreamErrorCode` maps to `BRISK_UPSTREAM_BAD_RESPONSE`: obsolete line folding,
 * bare CR or LF, control characters in a value, an invalid name, `Content-Length` with
 * `Transfer-Encoding`, repeated or malformed lengths, a chunk size that is not hex, a 204
 * announcing a body, a head with bare LF line ends (refused as soon as one shows), a
 * length or coding in the trailers.
 * Header names and values are handed over as views of the bytes read (no copies).
 */
import { TCHAR } from '../../core/http-token.js';

/** What the parser reports; the connection that owns it implements this. */
export interface ResponseEvents {
  /** A response head. `interim`: a 1xx other than 101; another head follows. */
  onResponseHead(status: number, rawHeaders: Buffer[], statusText: string, interim: boolean): void;
  onResponseBody(chunk: Buffer): void;
  /** The message is complete; `trailers` from a chunked body (null when none). */
  onResponseComplete(trailers: Buffer[] | null): void;
}

/** An error in the response, with llhttp's code so it maps like undici's. */
export class ResponseParseError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HTTPParserError';
  }
}

const enum State {
  Head = 0,
  Fixed = 1,
  ChunkSize = 2,
  ChunkData = 3,
  ChunkEnd = 4,
  Trailers = 5,
  UntilClose = 6,
  Done = 7,
}

const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');
/** Longest chunk-size line (with extensions) accepted. */
const MAX_CHUNK_LINE = 4096;
/** True for a character a field value may not hold: controls other than HTAB, and DEL. */
function isBadValueChar(c: number): boolean {
  return (c < 32 && c !== 9) || c === 127;
}

function fail(code: string, message: string): never {
  throw new ResponseParseError(code, message);
}

/**
 * Parses the responses of one connection, one at a time (no pipelining). `expect()` is
 * called before each request's response; `execute()` with each chunk read; `finish()`
 * when the target closed its side. Events are synchronous; the owner may `halt()` from one,
 * which stops the chunk being parsed.
 */
export class ResponseParser {
  /** The answer allows the connection to carry another request (known once the head is read). */
  keepAlive = true;
  /** The target's `Keep-Alive: timeout=N`, in ms (0: not said). */
  keepAliveHintMs = 0;
  private state = State.Done;
  private pending: Buffer | null = null;
  private remaining = 0;
  private noBody = false;
  private halted = false;
  private trailers: Buffer[] | null = null;

  constructor(
    private readonly events: ResponseEvents,
    /** Most bytes of a head (status line and fields), and of a trailer section. */
    private readonly maxHeadSize: number,
  ) {}

  /** The message is complete (or none was expected): bytes now would be unsolicited. */
  get idle(): boolean {
    return this.state === State.Done;
  }

  /** The body runs until the connection closes. */
  get untilClose(): boolean {
    return this.state === State.UntilClose;
  }

  /** Prepares for the response to a request; `head` for a HEAD request (no body follows). */
  expect(head: boolean): void {
    this.state = State.Head;
    this.pending = null;
    this.noBody = head;
    this.halted = false;
    this.keepAlive = true;
    this.keepAliveHintMs = 0;
    this.trailers = null;
  }

  /** Stops parsing: what is left of the current chunk is dropped. */
  halt(): void {
    this.halted = true;
    this.state = State.Done;
    this.pending = null;
  }

  /** The target closed its side: completes a body that runs until then. Returns false when a message was cut short. */
  finish(): boolean {
    if (this.state === State.UntilClose) {
      this.state = State.Done;
      this.events.onResponseComplete(null);
      return true;
    }
    return this.state === State.Done && this.pending === null;
  }

  /** Parses one chunk read from the connection. Throws a `ResponseParseError` for a malformed response. */
  execute(chunk: Buffer): void {
    let data = chunk;
    if (this.pending !== null) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let off = 0;
    const len = data.length;
    while (off < len && !this.halted) {
      switch (this.state) {
        case State.Head: {
          const end = data.indexOf(CRLFCRLF, off);
          if (end === -1 || end - off > this.maxHeadSize) {
            if (len - off > this.maxHeadSize) fail('UND_ERR_HEADERS_OVERFLOW', `response head larger than ${this.maxHeadSize} bytes`);
            // A head that can never end (bare LF line ends, no status line) is refused now,
            // not when the response timeout ends the wait for its CRLFCRLF.
            unfinishedHead(data, off);
            this.pending = data.subarray(off);
            return;
          }
          this.head(data, off, end);
          off = end + 4;
          break;
        }
        case State.Fixed:
        case State.ChunkData: {
          const n = Math.min(this.remaining, len - off);
          this.remaining -= n;
          const piece = data.subarray(off, off + n);
          off += n;
          if (this.remaining === 0) this.state = this.state === State.Fixed ? State.Done : State.ChunkEnd;
          this.events.onResponseBody(piece);
          if (this.state === State.Done && !this.halted) this.events.onResponseComplete(null);
          break;
        }
        case State.ChunkSize: {
          const eol = data.indexOf(CRLF, off);
          if (eol === -1) {
            if (len - off > MAX_CHUNK_LINE) fail('HPE_CHUNK_EXTENSIONS_OVERFLOW', 'chunk size line too long');
            this.pending = data.subarray(off);
            return;
          }
          this.remaining = chunkSize(data, off, eol);
          off = eol + 2;
          this.state = this.remaining === 0 ? State.Trailers : State.ChunkData;
          break;
        }
        case State.ChunkEnd: {
          if (len - off < 2) {
            this.pending = data.subarray(off);
            return;
          }
          if (data[off] !== 13 || data[off + 1] !== 10) fail('HPE_STRICT', 'chunk data not followed by CRLF');
          off += 2;
          this.state = State.ChunkSize;
          break;
        }
        case State.Trailers: {
          if (len - off < 2) {
            this.pending = data.subarray(off);
            return;
          }
          let end: number;
          if (data[off] === 13 && data[off + 1] === 10) end = off - 2; // no trailer fields
          else {
            end = data.indexOf(CRLFCRLF, off);
            if (end === -1 || end - off > this.maxHeadSize) {
              if (len - off > this.maxHeadSize) fail('UND_ERR_HEADERS_OVERFLOW', `trailers larger than ${this.maxHeadSize} bytes`);
              this.pending = data.subarray(off);
              return;
            }
            const raw: Buffer[] = [];
            this.fields(data, data.toString('latin1', off, end + 2), off, raw, false);
            this.trailers = raw.length === 0 ? null : raw;
          }
          off = end + 4;
          this.state = State.Done;
          this.events.onResponseComplete(this.trailers);
          break;
        }
        case State.UntilClose:
          this.events.onResponseBody(off === 0 ? data : data.subarray(off));
          off = len;
          break;
        case State.Done:
          fail('HPE_CLOSED_CONNECTION', 'data after the end of the response');
      }
    }
  }

  /** Parses a head from `data[off, end)` (`end` at its closing CRLFCRLF) and decides how the body is framed. */
  private head(data: Buffer, off: number, end: number): void {
    const text = data.toString('latin1', off, end + 2);
    const eol = text.indexOf('\r\n');
    // Status line: HTTP/1.x SP 3DIGIT [SP reason]
    if (eol < 12 || !text.startsWith('HTTP/1.') || text.charCodeAt(8) !== 32) fail('HPE_INVALID_CONSTANT', 'invalid status line');
    const minor = text.charCodeAt(7);
    if (minor !== 48 && minor !== 49) fail('HPE_INVALID_VERSION', 'invalid HTTP version');
    const status = digit(text, 9) * 100 + digit(text, 10) * 10 + digit(text, 11);
    if (status < 100) fail('HPE_INVALID_STATUS', 'invalid status code');
    if (eol > 12 && text.charCodeAt(12) !== 32) fail('HPE_INVALID_STATUS', 'invalid status code');
    let statusText = '';
    if (eol > 13) {
      statusText = text.slice(13, eol);
      for (let i = 0; i < statusText.length; i++) if (isBadValueChar(statusText.charCodeAt(i))) fail('HPE_INVALID_STATUS', 'invalid reason phrase');
    }
    const raw: Buffer[] = [];
    const framing = this.fields(data, text, off, raw, true, eol + 2);
    this.keepAlive = minor === 49 ? !framing.close : framing.keepAlive;
    if (status < 200) {
      if (status === 101) fail('HPE_INVALID_STATUS', 'the target switched protocols, which was not asked for');
      this.events.onResponseHead(status, raw, statusText, true);
      return;
    }
    // A 204 has no body whatever it says; one that announces bytes would reach the client
    // with that length, and a client trusting it reads the next answer as this body (undici
    // refuses it too).
    if (status === 204 && framing.length > 0) fail('UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'a 204 answer with a non-zero Content-Length');
    if (this.noBody || status === 204 || status === 304) this.state = State.Done;
    else if (framing.chunked) this.state = State.ChunkSize;
    else if (framing.length >= 0) {
      this.remaining = framing.length;
      this.state = framing.length === 0 ? State.Done : State.Fixed;
    } else if (framing.transferEncoding) {
      // A coding other than chunked last: the body runs until the connection closes (RFC 9112 §6.3).
      this.state = State.UntilClose;
      this.keepAlive = false;
    } else {
      this.state = State.UntilClose;
      this.keepAlive = false;
    }
    this.events.onResponseHead(status, raw, statusText, false);
    if (this.state === State.Done && !this.halted) this.events.onResponseComplete(null);
  }

  /**
   * Reads the field lines of `text` (which ends with CRLF) from `from`, pushing views of
   * `data` (offset `base`) onto `raw`. For a head (`framing`) it notes the fields that
   * frame the body and the connection.
   */
  private fields(data: Buffer, text: string, base: number, raw: Buffer[], framing: boolean, from = 0): Framing {
    const f: Framing = { length: -1, chunked: false, chunkedSeen: 0, transferEncoding: false, close: false, keepAlive: false };
    let pos = from;
    while (pos < text.length) {
      const eol = text.indexOf('\r\n', pos);
      const colon = text.indexOf(':', pos);
      if (colon === -1 || colon > eol || colon === pos) fail('HPE_INVALID_HEADER_TOKEN', 'invalid header field (or obsolete line folding)');
      for (let i = pos; i < colon; i++) if (TCHAR[text.charCodeAt(i)] !== 1) fail('HPE_INVALID_HEADER_TOKEN', 'invalid character in a header name');
      let vs = colon + 1;
      let ve = eol;
      while (vs < ve && (text.charCodeAt(vs) === 32 || text.charCodeAt(vs) === 9)) vs++;
      while (ve > vs && (text.charCodeAt(ve - 1) === 32 || text.charCodeAt(ve - 1) === 9)) ve--;
      for (let i = vs; i < ve; i++) if (isBadValueChar(text.charCodeAt(i))) fail('HPE_INVALID_HEADER_TOKEN', 'invalid character in a header value');
      raw.push(data.subarray(base + pos, base + colon), data.subarray(base + vs, base + ve));
      if (framing) this.note(f, text, pos, colon, vs, ve);
      // A length or coding in the trailers would reach the client, which may take it for
      // the body's framing (RFC 9110 §6.5.1; llhttp refuses a trailing Content-Length).
      else if (colon - pos === 14 ? named(text, pos, 'content-length') : colon - pos === 17 && named(text, pos, 'transfer-encoding')) fail('HPE_INVALID_CONTENT_LENGTH', 'Content-Length or Transfer-Encoding in the trailers');
      pos = eol + 2;
    }
    if (framing && f.length >= 0 && f.transferEncoding) fail('HPE_UNEXPECTED_CONTENT_LENGTH', 'Content-Length together with Transfer-Encoding');
    return f;
  }

  /** Notes one field that frames the body or the connection (names compared by length first). */
  private note(f: Framing, text: string, ns: number, ne: number, vs: number, ve: number): void {
    const n = ne - ns;
    const name = n === 14 && named(text, ns, 'content-length') ? 1 : n === 17 && named(text, ns, 'transfer-encoding') ? 2 : n === 10 ? (named(text, ns, 'connection') ? 3 : named(text, ns, 'keep-alive') ? 4 : 0) : 0;
    if (name === 0) return;
    const value = text.slice(vs, ve);
    if (name === 1) {
      if (!/^\d{1,15}$/.test(value)) fail('HPE_INVALID_CONTENT_LENGTH', 'invalid Content-Length');
      // Even two equal lines are refused, as llhttp does: both would reach the client, which
      // may refuse the answer or read it differently from Brisk.
      if (f.length !== -1) fail('HPE_UNEXPECTED_CONTENT_LENGTH', 'more than one Content-Length');
      f.length = Number(value);
    } else if (name === 2) {
      // Only the last coding decides (another one last: the body runs until the close,
      // RFC 9112 §6.3); chunked applied twice is refused (§7.1).
      // Several lines make one list: the last line's last coding is the last one.
      const codings = value.toLowerCase().split(',');
      for (const c of codings) if (c.trim() === 'chunked' && f.chunkedSeen++ > 0) fail('HPE_INVALID_TRANSFER_ENCODING', 'chunked applied more than once');
      f.transferEncoding = true;
      f.chunked = codings[codings.length - 1]!.trim() === 'chunked';
    } else if (name === 3) {
      if (value.length === 10 && named(value, 0, 'keep-alive')) f.keepAlive = true;
      else if (value.length === 5 && named(value, 0, 'close')) f.close = true;
      else
        for (const token of value.toLowerCase().split(',')) {
          const t = token.trim();
          if (t === 'close') f.close = true;
          else if (t === 'keep-alive') f.keepAlive = true;
        }
    } else {
      const m = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i.exec(value);
      if (m !== null) this.keepAliveHintMs = Number(m[1]) * 1000;
    }
  }
}

interface Framing {
  length: number;
  chunked: boolean;
  /** Times `chunked` was named. */
  chunkedSeen: number;
  transferEncoding: boolean;
  close: boolean;
  keepAlive: boolean;
}

/** True when `text` at `at` holds `lower` in any case (header names are case-insensitive). */
function named(text: string, at: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    let c = text.charCodeAt(at + i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

function digit(text: string, i: number): number {
  const c = text.charCodeAt(i) - 48;
  if (c < 0 || c > 9) fail('HPE_INVALID_STATUS', 'invalid status code');
  return c;
}

const HTTP_SLASH = Buffer.from('HTTP/');

/**
 * Checks the start of a head whose end has not arrived: it must begin `HTTP/` and end its
 * lines with CRLF, or it can never be valid (throws).
 */
function unfinishedHead(data: Buffer, off: number): void {
  const n = Math.min(HTTP_SLASH.length, data.length - off);
  if (data.compare(HTTP_SLASH, 0, n, off, off + n) !== 0) fail('HPE_INVALID_CONSTANT', 'invalid status line');
  for (let lf = data.indexOf(10, off); lf !== -1; lf = data.indexOf(10, lf + 1)) {
    if (lf === off || data[lf - 1] !== 13) fail('HPE_CR_EXPECTED', 'a line of the head ends with a bare LF');
  }
}

/** The size of a chunk-size line `data[off, eol)`: hex digits, then optional extensions after `;`. */
function chunkSize(data: Buffer, off: number, eol: number): number {
  let size = 0;
  let i = off;
  for (; i < eol; i++) {
    const c = data[i]!;
    const v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (v === -1) break;
    size = size * 16 + v;
    if (size > Number.MAX_SAFE_INTEGER / 16) fail('HPE_INVALID_CHUNK_SIZE', 'chunk size too large');
  }
  // Nothing but an extension after the size: no white space either (RFC 9112 allows it
  // before `;`, llhttp and so undici refuse it; a target that sends it is refused alike).
  if (i === off || (i < eol && data[i] !== 59 /* ; */)) fail('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size');
  for (; i < eol; i++) if (isBadValueChar(data[i]!)) fail('HPE_INVALID_CHUNK_SIZE', 'invalid chunk extension');
  return size;
}
