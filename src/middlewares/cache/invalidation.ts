/**
 * Invalidation after unsafe requests (RFC 9111 §4.4): a non-error response to a POST,
 * PUT, DELETE… drops the stored responses for its URL and for the same-origin URLs its
 * Location and Content-Location name.
 */
import type { RequestContext, ResponseObserver } from '../../core/middleware.js';

/** Watches an unsafe request's response and invalidates what it may have changed. */
export class Invalidation implements ResponseObserver {
  constructor(
    private readonly cache: { invalidate(key: string): void },
    private readonly key: string,
    private readonly ctx: RequestContext,
  ) {}
  onHead(status: number, _text: string, rawHeaders: Buffer[]): null {
    if (status < 200 || status >= 400) return null;
    this.cache.invalidate(this.key);
    const slash = this.key.indexOf('/');
    const host = slash === -1 ? this.key : this.key.slice(0, slash);
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1').toLowerCase();
      if (name !== 'location' && name !== 'content-location') continue;
      try {
        const url = new URL(rawHeaders[i + 1]!.toString('latin1'), `http://${host}${this.ctx.path}`);
        // Only the same origin: a response must not be able to purge other sites' entries.
        if (url.host.toLowerCase() === host) this.cache.invalidate(host + url.pathname + url.search);
      } catch {
        // Not a URL: nothing to invalidate.
      }
    }
    return null;
  }
  onData(): void {}
  onError(): null {
    return null;
  }
  onEnd(): void {}
}
