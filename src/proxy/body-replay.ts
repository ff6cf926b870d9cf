import type { Readable } from 'node:stream';
import { BriskError } from '../core/errors.js';
import type { RequestBody } from '../upstreams/call/types.js';

type Source = Readable | AsyncGenerator<Buffer> | Buffer;

/**
 * A request body that a retry or hedge may need to send again. While it streams to the
 * first try, up to `keepUpTo` bytes are kept; once the client has sent it all, a later try
 * gets the kept copy. A body larger than that is streamed without a copy and cannot be
 * replayed — unless no try has read from it yet (the first connect failed), in which case
 * the untouched stream itself is handed on.
 */
export class BodyReplay implements RequestBody {
  /** Set when a body of unknown length went past the limit. */
  tooLarge = false;
  private kept: Buffer[] | null;
  private keptBytes = 0;
  private complete = false;
  private reading = false;

  constructor(
    private readonly req: Readable,
    private readonly keepUpTo: number,
    /** Largest body accepted (0: no limit), for bodies of unknown length. */
    private readonly limit: number,
  ) {
    this.kept = keepUpTo > 0 ? [] : null;
  }

  /** True when a new try can be given the whole body. */
  replayable(): boolean {
    if (!this.reading && !this.req.readableDidRead) return true;
    return this.complete && this.kept !== null;
  }

  /** The body for a new try. Only call when `replayable()` (or for the first try). */
  source(): Source {
    if (this.complete && this.kept !== null) return Buffer.concat(this.kept, this.keptBytes);
    if (this.kept === null && this.limit === 0) return this.req;
    return this.stream();
  }

  private async *stream(): AsyncGenerator<Buffer> {
    // Set on the first pull, not when the generator is made: a try whose connection failed
    // never pulls, and the body is still whole for the next one.
    this.reading = true;
    let total = 0;
    // destroyOnReturn: false — a try that is abandoned must not destroy the client's
    // stream, which a retry may still read.
    for await (const chunk of this.req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (this.limit > 0 && total > this.limit) {
        this.tooLarge = true;
        throw new BriskError('BRISK_BODY_TOO_LARGE', 'request body too large');
      }
      if (this.kept !== null) {
        if (this.keptBytes + chunk.length <= this.keepUpTo) {
          this.kept.push(chunk);
          this.keptBytes += chunk.length;
        } else {
          // Too large to keep: drop the copy so memory stays flat for big uploads.
          this.kept = null;
        }
      }
      yield chunk;
    }
    this.complete = true;
  }
}
