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
