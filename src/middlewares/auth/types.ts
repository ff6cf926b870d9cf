/**
 * What the auth methods (API key, JWT, Basic, forward-auth) have in common, so that the
 * middleware can combine them (`anyOf`, `allOf`) without knowing their details.
 */
import type { Answer, Identity, RequestContext } from '../../core/middleware.js';
import type { Logger } from '../../observability/logger.js';

/** The credentials a method found in a request. */
export type Found<C> =
  /** The request carries none for this method. */
  | { readonly kind: 'absent' }
  /** It carries some, but they cannot be right (two keys, bad encoding, a huge token). */
  | { readonly kind: 'bad'; readonly reason: string }
  | { readonly kind: 'present'; readonly credentials: C };

/** What checking the credentials gave. */
export type Outcome =
  | {
      readonly ok: true;
      readonly identity: Identity;
      /** Headers for the target besides the identity headers (forward-auth `copyHeaders`), flat. */
      readonly upstreamHeaders?: readonly string[];
    }
  | { readonly ok: false; readonly answer: Answer };

/** One authentication method of a route. */
export interface AuthMethod<C = unknown> {
  /** `api-key`, `jwt`, `basic`, `forward-auth`: the identity's method. */
  readonly name: string;
  /** The `WWW-Authenticate` challenge sent when credentials are missing, or null. */
  readonly challenge: string | null;
  find(ctx: RequestContext): Found<C>;
  /** Synchronous when the answer is already known (a cached verification), else a promise. */
  check(credentials: C, ctx: RequestContext): Outcome | Promise<Outcome>;
  /** The answer for credentials that were found `bad`. */
  refuse(reason: string, ctx: RequestContext): Answer;
  /** Removes the credentials from the request to the target (`hideCredentials`). */
  hide(ctx: RequestContext): void;
  close?(): void | Promise<void>;
}

/** What a middleware factory gets from the gateway. */
export interface MiddlewareDeps {
  readonly logger: Logger;
}
