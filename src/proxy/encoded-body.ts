/**
 * A response body on its way through an encoder (compression) to the client, with
 * backpressure both ways: a chunk from the target is refused (`write` returns false) while
 * the encoder's input is full, and the encoder is paused while the client's socket is
 * full. Used by `AnsweringExchange` when a `ResponseTransform` took the body.
 */
import type { ServerResponse } from 'node:http';
import type { Transform } from 'node:stream';
import type { ClientResponse } from '../core/http.js';

export class EncodedBody {
  private closed = false;
  private onDone: (() => void) | null = null;

  /**
   * @param onBytes told how many encoded bytes went to the client (the exchange's `bytesOut`).
   */
  constructor(
    res: ClientResponse,
    private readonly stream: Transform,
    private readonly flushEach: (() => void) | null,
    private readonly onBytes: (n: number) => void,
  ) {
    const out = res as ServerResponse;
    stream.on('data', (chunk: Buffer) => {
      this.onBytes(chunk.length);
      if (!out.write(chunk)) {
        stream.pause();
        out.once('drain', () => stream.resume());
      }
    });
    stream.once('end', () => {
      if (!out.destroyed) out.end();
      this.done();
    });
    // An encoder cannot fail on valid input; if it does, the body is cut, the only honest signal left.
    stream.once('error', () => {
      out.destroy();
      this.done();
    });
    // A client that leaves (or a cut) frees the encoder's memory at once.
    out.once('close', () => {
      this.closed = true;
      if (!stream.readableEnded) stream.destroy();
      this.done();
    });
  }

  /** Writes a chunk of the target's body; false asks the caller to pause until `resume` is called. */
  write(chunk: Buffer, resume: () => void): boolean {
    const ok = this.stream.write(chunk);
    this.flushEach?.();
    if (ok) return true;
    this.stream.once('drain', resume);
    return false;
  }

  /** Ends the body; `then` runs once the encoded body has been handed to the client (or the client left). */
  end(then?: () => void, body?: Buffer): void {
    if (this.closed) {
      then?.();
      return;
    }
    this.onDone = then ?? null;
    if (body === undefined) this.stream.end();
    else this.stream.end(body);
  }

  private done(): void {
    const cb = this.onDone;
    this.onDone = null;
    cb?.();
  }
}
