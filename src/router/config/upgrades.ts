/**
 * The route's `upgrades` key: which protocols an `Upgrade` request may switch to on the
 * route (the policy itself, and why h2c is never tunnelled: src/proxy/upgrade-policy.ts).
 */
import { Type } from '../../config/type-builder.js';
import type { PathProblem } from '../../config/positions.js';
import { PatternString } from '../../config/schema-kit.js';

/** Protocols tunnelled on a route that has no `upgrades` key. */
export const DEFAULT_UPGRADES: readonly string[] = Object.freeze(['websocket']);

/** An HTTP token (RFC 9110 §5.6.2): the name of an upgrade protocol. */
const TOKEN_PATTERN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

/** The route's `upgrades` key. */
export const UpgradesSchema = Type.Array(PatternString(TOKEN_PATTERN, 'must be a protocol name such as `websocket` (letters, digits and !#$%&\'*+.^_`|~-)'), {
  default: [...DEFAULT_UPGRADES],
  description:
    'Protocols an `Upgrade` request may switch to on this route, tunnelled to the target once it answers 101 (names compared case-insensitively; `[]`: none). Other upgrades are refused with 403 `BRISK_UPGRADE_NOT_ALLOWED`. `Upgrade: h2c` is never tunnelled: such a request is served as plain HTTP/1.1.',
});

/**
 * Lower-cases and de-duplicates the list; `h2c` is a problem because a tunnelled h2c
 * connection would carry every later request past the gateway.
 */
export function normalizeUpgrades(raw: readonly string[]): { config?: readonly string[]; problems: PathProblem[]; warnings: PathProblem[] } {
  const problems: PathProblem[] = [];
  const names: string[] = [];
  raw.forEach((name, i) => {
    const lower = name.toLowerCase();
    if (lower === 'h2c') {
      problems.push({ path: [i], message: 'h2c cannot be tunnelled: every later request on the connection would bypass routing, auth and rate limits. Brisk serves `Upgrade: h2c` requests as plain HTTP/1.1; for HTTP/2, set `tls.http2` on the listener' });
    } else if (!names.includes(lower)) names.push(lower);
  });
  return problems.length > 0 ? { problems, warnings: [] } : { config: names, problems, warnings: [] };
}
