import type { Target } from '../target.js';
import { cookieValue } from './hash-key.js';
import { usable, type PickContext } from './balancer.js';

/**
 * Sticky sessions by cookie, in front of any balancer: a request whose cookie names a
 * target that can take it goes there; any other request is left to the balancer, and the
 * response sets the cookie to the target it got. The cookie holds the target's short id,
 * which derives from the upstream and the target's origin, so it stays valid across
 * reloads and across gateway instances, and reveals no address.
 *
 * A pinned target that becomes unusable (ejected, unhealthy, or already tried by this
 * request) is not used: the request falls back to the balancer and the new target's cookie
 * replaces the old one, so the session moves once rather than failing.
 *
 * @example
 * const sticky = new StickySessions({ cookie: 'brisk_sticky', ttlMs: 3_600_000 }, targets);
 * const target = sticky.targetFromRequest(req.rawHeaders, ctx) ?? balancer.pick(ctx);
 * if (target !== null && target !== pinned) res.setHeader('set-cookie', sticky.setCookieHeader(target));
 */
export class StickySessions {
  readonly cookie: string;
  private readonly byId = new Map<string, Target>();
  /** Set-Cookie values, built once per target so a response allocates none. */
  private readonly headers = new Map<Target, string>();
  private readonly attributes: string;

  constructor(config: { readonly cookie: string; readonly ttlMs: number }, targets: readonly Target[]) {
    this.cookie = config.cookie;
    // No `Secure`: the listener may be plain HTTP, where a Secure cookie would never come back.
    const maxAge = config.ttlMs > 0 ? `; Max-Age=${Math.max(1, Math.ceil(config.ttlMs / 1000))}` : '';
    this.attributes = `; Path=/; HttpOnly; SameSite=Lax${maxAge}`;
    this.update(targets);
  }

  /**
   * The routable targets changed: a cookie naming a target that left (or drains) no longer
   * pins, so its clients move once, to what the balancer picks.
   */
  update(targets: readonly Target[]): void {
    this.byId.clear();
    this.headers.clear();
    for (const t of targets) {
      // Ids are 32-bit hashes: on the (very unlikely) collision the first target keeps the id.
      if (!this.byId.has(t.id)) this.byId.set(t.id, t);
      this.headers.set(t, `${this.cookie}=${t.id}${this.attributes}`);
    }
  }

  /** The target named by the request's sticky cookie if it is usable for this request, else null. */
  targetFromRequest(rawHeaders: readonly string[], ctx: PickContext): Target | null {
    const id = cookieValue(rawHeaders, this.cookie);
    if (id === null) return null;
    const t = this.byId.get(id);
    return t !== undefined && usable(t, ctx) ? t : null;
  }

  /** The `Set-Cookie` value pinning the client to `target`. */
  setCookieHeader(target: Target): string {
    return this.headers.get(target) ?? `${this.cookie}=${target.id}${this.attributes}`;
  }
}
