/**
 * The part of undici's dispatch contract Brisk's own pools implement (`H2Pool` for
 * HTTP/2, `H1Pool` for the lean HTTP/1.1 transport): what `dispatch(options, handler)` is
 * given and which callbacks it drives, so the upstream call (`UpstreamTry`) is the same
 * object whichever pool carries it.
 */
import type { Readable, Writable } from 'node:stream';

/** The subset of undici's (legacy) dispatch handler the pools drive. */
export interface DispatchHandlerLike {
  onConnect?(abort: (err?: Error) => void): void;
  onHeaders?(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean;
  onData?(chunk: Buffer): boolean;
  onComplete?(trailers: Buffer[] | null): void;
  onError?(err: Error): void;
}

/** What `dispatch` is given (undici's `DispatchOptions`, the fields the pools read). */
export interface DispatchOptionsLike {
  readonly path: string;
  readonly method: string;
  /** Flat `[name, value, …]`, as the upstream call prepares them. */
  readonly headers?: readonly string[] | null | unknown;
  readonly body?: string | Buffer | Uint8Array | Readable | AsyncIterable<Buffer> | null;
  readonly headersTimeout?: number | null;
  readonly bodyTimeout?: number | null;
  readonly upgrade?: string | null;
}

/** An error with a stable `code`, in undici's style, so `upstreamErrorCode` maps it like undici's own. */
export function dispatchError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Resolves when `stream` can take writes again, or has closed. */
export function drained(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
