/**
 * A stage in the response path that may re-encode the body the client gets (compression),
 * consulted by the exchange once, when the response head is written. The proxy knows only
 * this contract; the implementation is a middleware (src/middlewares/compression/) that
 * registers itself on the request (`RequestContext.transformResponse`), so a route without
 * one pays a single null check.
 */
import type { Transform } from 'node:stream';

/** The response about to be written, as a transform sees it. */
export interface ResponseHead {
  readonly status: number;
  /** The response's fields, flat `[name, value, …]`: a transform that takes the body edits them in place. */
  readonly headers: string[];
  readonly method: string;
  /** The client's request fields, flat (Accept-Encoding is read from them). */
  readonly requestHeaders: readonly string[];
  /** The whole body when the gateway holds it (a stored response, an answer it made); null for a streamed body. */
  readonly body: Buffer | null;
  /** `body` is a stored response's, the same Buffer for every client it is served to: what it encodes to may be kept. */
  readonly stored: boolean;
}

/** How the body is re-encoded, as `ResponseTransform.begin` decided. */
export type BodyEncoding =
  /** Write the body into `stream` and send what comes out; `flush` (when set) after every chunk written, so a streamed body is never held back. */
  | { readonly kind: 'stream'; readonly stream: Transform; readonly flush: (() => void) | null }
  /** The encoded whole body, already at hand (a stored response encoded for an earlier client): send it with its length. */
  | { readonly kind: 'ready'; readonly body: Buffer }
  /**
   * The body is small and its length known: collect it, then encode it at once and send it
   * with its length (the head waits for it). For small bodies a one-shot encoding costs a
   * fraction of a stream's setup.
   */
  | { readonly kind: 'whole'; encode(body: Buffer): Buffer };

/** Consulted at head time; see the module comment. */
export interface ResponseTransform {
  /**
   * Decides for one response. Returns null to leave it as it is (the transform may still
   * have added fields, such as `Vary`); otherwise it has edited `head.headers` (the
   * encoding named, `Content-Length` removed) and says how to encode the body.
   */
  begin(head: ResponseHead): BodyEncoding | null;
}
