/** One request with its whole answer read as text, for tests that compare bodies and headers. */
import { request, type Dispatcher } from 'undici';

export interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Sends one request (GET unless told) and reads the whole body as text. */
export async function httpGet(url: string, options: { headers?: Record<string, string>; method?: string; dispatcher?: Dispatcher } = {}): Promise<Got> {
  const res = await request(url, { method: (options.method ?? 'GET') as 'GET', headers: options.headers ?? {}, ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }) });
  const body = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body };
}
