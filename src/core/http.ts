/**
 * The client side of an HTTP exchange as the listeners hand it over: node:http for
 * HTTP/1.1, the HTTP/2 compatibility API for h2. Every layer that reads the client's
 * request or writes its answer uses these names, so they sit at the bottom.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

/** A request as either server gives it: node:http, or the HTTP/2 compatibility API. */
export type ClientRequest = IncomingMessage | Http2ServerRequest;
/** The response object that goes with a {@link ClientRequest}. */
export type ClientResponse = ServerResponse | Http2ServerResponse;

/** True for a request that arrived over HTTP/2. */
export function isHttp2Request(req: ClientRequest): req is Http2ServerRequest {
  return 'stream' in req;
}

/** True for the response of an HTTP/2 request. */
export function isHttp2Response(res: ClientResponse): res is Http2ServerResponse {
  return 'stream' in res;
}
