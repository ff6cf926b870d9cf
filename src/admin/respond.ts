/** Small answers and body reading shared by the admin endpoints (core, alerting, cache). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody, ERROR_CODES, type ErrorCode } from '../core/errors.js';

/** The most an admin request body may hold; admin bodies are small JSON documents. */
export const ADMIN_MAX_BODY = 64 * 1024;

/** Thrown by `readBody` when the body is larger than allowed (the rest is read and dropped). */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the body is larger than ${Math.round(limit / 1024)}kb`);
    this.name = 'BodyTooLargeError';
  }
}

/** The whole request body as UTF-8 text, at most `maxBytes` of it. */
export function readBody(req: IncomingMessage, maxBytes = ADMIN_MAX_BODY): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= maxBytes) chunks.push(c);
    });
    req.on('end', () => (size > maxBytes ? reject(new BodyTooLargeError(maxBytes)) : resolve(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

/** A JSON answer, pretty-printed (people read the admin API with curl), never cached. */
export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** A Brisk error answer: the code's status and the usual `{"error": …}` body. */
export function error(res: ServerResponse, code: ErrorCode, message: string): void {
  const body = errorBody(code, message, undefined);
  res.writeHead(ERROR_CODES[code].status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/**
 * The request's JSON object body, after the content-type guard (`Content-Type:
 * application/json`, which a cross-site form cannot send, is required of every request
 * that changes something); undefined when the answer was already sent. An empty body is
 * `{}` unless `required`. `invalid` is the code of a body that is not a JSON object,
 * `example` shows a good one, `changes` names what such requests change.
 */
export async function readJsonObject(
  req: IncomingMessage,
  res: ServerResponse,
  options: { readonly required: boolean; readonly invalid: ErrorCode; readonly example: string; readonly changes: string },
): Promise<Record<string, unknown> | undefined> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  // Read it all in any case, so the connection stays usable for the next request.
  let text: string;
  try {
    text = await readBody(req);
  } catch (e) {
    error(res, options.invalid, e instanceof BodyTooLargeError ? e.message : 'the request body could not be read');
    return undefined;
  }
  if (type !== 'application/json') {
    error(res, 'BRISK_ADMIN_UNSUPPORTED_MEDIA_TYPE', `send "Content-Type: application/json" (got ${type === '' ? 'none' : JSON.stringify(type)}): requests that change ${options.changes} must say so, which a cross-site form cannot`);
    return undefined;
  }
  if (text.trim() === '') {
    if (!options.required) return {};
    error(res, options.invalid, `the body is empty; send ${options.example}`);
    return undefined;
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    error(res, options.invalid, `the body is not valid JSON; send ${options.example}`);
    return undefined;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    error(res, options.invalid, `the body must be a JSON object: ${options.example}`);
    return undefined;
  }
  return body as Record<string, unknown>;
}
