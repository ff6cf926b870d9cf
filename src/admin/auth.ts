/**
 * The admin API's token check (`admin.token`). A bearer token for programs; for people, a
 * browser may open the read-only pages (the dashboard and its stream) with HTTP Basic auth,
 * the token as the password, since a browser cannot add a bearer header to a page it opens.
 * Basic is refused for anything that changes state: browsers resend Basic credentials on
 * cross-site requests by themselves, a bearer header they never add on their own.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Endpoints answered without a token: orchestrators probe them. */
const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

/** The challenges a 401 carries: Bearer for programs, Basic so that a browser asks for the token. */
export const ADMIN_CHALLENGES: readonly string[] = ['Bearer realm="brisk-admin"', 'Basic realm="brisk-admin", charset="UTF-8"'];

/**
 * Checks requests against `token`: returns null when the request may go on, else why not.
 * Without a token every request may go on.
 *
 * @example
 * const why = adminAuth(config.admin.token)(req, path);
 * if (why !== null) refuse(401, why);
 */
export function adminAuth(token: string | undefined): (req: IncomingMessage, path: string) => string | null {
  if (token === undefined || token === '') return () => null;
  const expected = digest(token);
  return (req, path) => {
    if (OPEN_PATHS.has(path)) return null;
    const header = req.headers.authorization;
    if (header === undefined || header === '') return 'this admin API needs a token: send "Authorization: Bearer <admin.token>"';
    const space = header.indexOf(' ');
    const scheme = space === -1 ? header.toLowerCase() : header.slice(0, space).toLowerCase();
    const credentials = space === -1 ? '' : header.slice(space + 1).trim();
    if (scheme === 'bearer') return matches(credentials, expected) ? null : 'the bearer token is not the admin token';
    if (scheme === 'basic') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return 'Basic credentials only open read-only pages; send "Authorization: Bearer <admin.token>" to change anything';
      const decoded = Buffer.from(credentials, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return colon !== -1 && matches(decoded.slice(colon + 1), expected) ? null : 'the Basic password is not the admin token';
    }
    return `unsupported authorization scheme "${scheme}"; send "Authorization: Bearer <admin.token>"`;
  };
}

/** Equal-length digests compared in constant time: the check leaks neither the token nor its length. */
function matches(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
