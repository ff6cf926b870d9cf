import type { DestinationStream } from 'pino';
import type { Logger } from './logger.js';

/**
 * The access log: one line per request. In JSON mode the line is written straight to the
 * logger's asynchronous destination, in the same shape pino writes (`level`, `time`,
 * `pid`, `type: "access"`, then the fields), but built by hand: it runs once per request,
 * and a generic serializer walking an object costs more than the whole rest of the
 * gateway's own work on that request. Every field but the path is from a closed set of
 * safe characters (ids, names, numbers); the path is escaped. In pretty mode (a terminal)
 * it goes through pino like any other line.
 *
 * Sampling (`sample.successes`) drops a share of successful lines — status below 400 and
 * no Brisk error code — before any work is done; 4xx, 5xx and every request Brisk
 * answered with an error code are always written, since those are the lines people
 * search for. The random draw is `Math.random()`: it is not a security decision.
 *
 * Lines are handed to the destination in chunks of 64 KiB, or after at most 100 ms:
 * each `write` to sonic-boom costs several microseconds (it measures and copies its
 * pending buffer), so under load one write per line — or even per event-loop turn — cost
 * more than building the lines. Call `flush()` before the destination is flushed or closed.
 *
 * The chunk is gathered in a reused buffer, each line encoded into it as soon as it is
 * built: a chunk kept as a string was a rope of thousands of small pieces spread over the
 * heap, which survived young-generation collections (copied each time) and was walked,
 * cache miss after cache miss, when the destination measured and encoded it — together
 * about 1.5 µs per line, more than building the line.
 */
export class AccessLog {
  private lastMs = 0;
  private lastSecond = -1;
  /** `{"level":"info","time":"<ISO up to the second>.` for the second of `lastMs`. */
  private secondHead = '';
  /** The line's opening up to `"type":"access"`, for the millisecond `lastMs`. */
  private lineHead = '';
  private readonly prefix: string;
  private readonly sampleSuccesses: number;
  private readonly chunkBytes: number;
  /** Lines not yet handed to the destination, UTF-8, in `buf[0, used)`. */
  private readonly buf: Buffer;
  private used = 0;
  private scheduled = false;

  constructor(
    private readonly logger: Logger,
    /** The raw JSON destination (stdout's, or a `RotatingFile`), or null to go through the logger. */
    private readonly destination: DestinationStream | null,
    options: { readonly sampleSuccesses?: number; readonly chunkBytes?: number } = {},
  ) {
    this.prefix = `,"pid":${process.pid},"type":"access"`;
    this.sampleSuccesses = options.sampleSuccesses ?? 1;
    this.chunkBytes = options.chunkBytes ?? PENDING_LIMIT;
    this.buf = destination === null ? Buffer.alloc(0) : Buffer.allocUnsafeSlow(this.chunkBytes + LINE_ROOM);
  }

  write(
    requestId: string | undefined,
    method: string | undefined,
    path: string | undefined,
    route: string | undefined,
    upstream: string | undefined,
    target: string | undefined,
    status: number,
    durationMs: number,
    bytesOut: number,
    remote: string | undefined,
    attempts: number,
    hedged: boolean,
    error: string | null,
    traceId?: string,
  ): void {
    if (this.sampleSuccesses < 1 && status < 400 && error === null && Math.random() >= this.sampleSuccesses) return;
    const dest = this.destination;
    if (dest === null) {
      this.logger.info({
        type: 'access',
        requestId,
        traceId,
        method,
        path,
        route,
        upstream,
        target,
        status,
        durationMs,
        bytesOut,
        remote,
        attempts: attempts > 1 ? attempts : undefined,
        hedged: hedged ? true : undefined,
        error: error ?? undefined,
      });
      return;
    }
    let line = this.headNow();
    if (requestId !== undefined) line += `,"requestId":"${requestId}"`;
    if (traceId !== undefined) line += `,"traceId":"${traceId}"`;
    if (method !== undefined) line += `,"method":"${method}"`;
    if (path !== undefined) line += `,"path":${safeJsonString(path)}`;
    if (route !== undefined) line += `,"route":"${route}"`;
    if (upstream !== undefined) line += `,"upstream":"${upstream}"`;
    if (target !== undefined) line += `,"target":"${target}"`;
    line += `,"status":${status},"durationMs":${formatMillis(durationMs)},"bytesOut":${bytesOut}`;
    if (remote !== undefined) line += `,"remote":"${remote}"`;
    if (attempts > 1) line += `,"attempts":${attempts}`;
    if (hedged) line += ',"hedged":true';
    if (error !== null) line += `,"error":"${error}"`;
    line += '}\n';
    // A UTF-16 unit takes at most 3 bytes in UTF-8: with that much room the line fits whole.
    if (this.used + line.length * 3 > this.buf.length) {
      this.flush();
      if (line.length * 3 > this.buf.length) {
        // A line longer than the buffer (a huge path): handed over on its own, in order.
        dest.write(line);
        return;
      }
    }
    this.used += this.buf.write(line, this.used);
    if (this.used >= this.chunkBytes) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setTimeout(this.flushPending, FLUSH_MS).unref();
    }
  }

  /** Hands the pending lines to the destination now (shutdown, reload). */
  flush(): void {
    const used = this.used;
    if (used === 0 || this.destination === null) return;
    this.used = 0;
    // One flat string for the destination (sonic-boom takes strings in its UTF-8 mode).
    this.destination.write(this.buf.toString('utf8', 0, used));
  }

  private readonly flushPending = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /**
   * The line's opening with the ISO time, built once per millisecond however many lines
   * share it; `toISOString` only once per second (the milliseconds are three digits
   * appended): it was a visible share of the line's cost under load.
   */
  private headNow(): string {
    const now = Date.now();
    if (now !== this.lastMs) {
      this.lastMs = now;
      const ms = now % 1000;
      const second = now - ms;
      if (second !== this.lastSecond) {
        this.lastSecond = second;
        // "2026-12-06T23:45:27." (ISO form is fixed-width for years 0000-9999).
        this.secondHead = `{"level":"info","time":"${new Date(second).toISOString().slice(0, 20)}`;
      }
      this.lineHead = `${this.secondHead}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"${this.prefix}`;
    }
    return this.lineHead;
  }
}

const PENDING_LIMIT = 64 * 1024;
/** Room past the chunk size, so that a line of up to this many bytes never waits for a flush. */
const LINE_ROOM = 16 * 1024;
/** The longest a line waits here before it is handed to the destination. */
const FLUSH_MS = 100;

/**
 * A duration already rounded to the microsecond (`Math.round(ms * 1000) / 1000`), written
 * exactly as `String(ms)` would (`1.5`, `0.012`, `3`) but from integers: turning a
 * fractional double into its shortest decimal form costs far more than three small
 * integer conversions. Anything else (negative, huge, not finite) takes the generic path.
 */
export function formatMillis(ms: number): string {
  const micros = Math.round(ms * 1000);
  if (!(micros >= 0 && micros < 2 ** 31) || micros / 1000 !== ms) return String(ms);
  const frac = micros % 1000;
  const whole = (micros - frac) / 1000;
  if (frac === 0) return `${whole}`;
  if (frac % 100 === 0) return `${whole}.${frac / 100}`;
  if (frac % 10 === 0) return `${whole}.${frac < 100 ? '0' : ''}${frac / 10}`;
  return `${whole}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

/** JSON string literal; the common path (printable ASCII without quotes or backslashes) skips the serializer. */
function safeJsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(s);
  }
  return `"${s}"`;
}
