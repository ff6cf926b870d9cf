/**
 * The route key `cors`: its schema and normaliser.
 */
import { Type, type Static } from '../../config/type-builder.js';
import type { PathProblem } from '../../config/positions.js';
import { DURATION_PATTERN, durationMs } from '../../config/units.js';

const TOKEN_PATTERN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

/** The schema of the route key `cors`. */
export const CorsSchema = Type.Object(
  {
    origins: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description:
        'Allowed origins: exact (`https://app.example.com`, no path), `*` for any (not with `credentials`), or a subdomain wildcard (`https://*.example.com`, which does not match `https://example.com` itself).',
    }),
    methods: Type.Optional(
      Type.Array(Type.String({ pattern: TOKEN_PATTERN }), {
        minItems: 1,
        default: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
        description: 'Methods a preflight may ask for (upper-cased); `*` for any.',
      }),
    ),
    headers: Type.Optional(
      Type.Array(Type.String({ pattern: TOKEN_PATTERN }), {
        description:
          'Request headers a preflight may ask for (case-insensitive). When omitted, or `*`, the headers the preflight asks for are allowed. List `content-type` if clients send JSON.',
      }),
    ),
    exposeHeaders: Type.Optional(Type.Array(Type.String({ pattern: TOKEN_PATTERN }), { description: 'Response headers the page may read besides the CORS-safelisted ones.' })),
    credentials: Type.Optional(
      Type.Boolean({ default: false, description: 'Let pages send cookies and Authorization (`Access-Control-Allow-Credentials`). The origin is then echoed, never `*`.' }),
    ),
    maxAge: Type.Optional(
      Type.Union([Type.String({ pattern: DURATION_PATTERN }), Type.Number({ minimum: 0 })], {
        default: '10m',
        description: 'How long browsers may cache a preflight answer (browsers cap it: Chrome at 2h). A duration: a number of milliseconds or a string such as `500ms`, `2s`, `1m`, `1h`.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Cross-origin resource sharing. Brisk answers preflights itself (204, or 403 when the origin, method or headers are not allowed) and adds `Access-Control-Allow-Origin` to answers for allowed origins. CORS only tells browsers what pages may read: it does not stop other clients.',
  },
);

/** `cors` as written in the file. */
export type RawCors = Static<typeof CorsSchema>;

/** The runtime `cors` of a route. */
export interface CorsConfig {
  /** `*` was listed. */
  readonly anyOrigin: boolean;
  /** Lower-case serialised origins. */
  readonly origins: readonly string[];
  /** `https://*.example.com` → scheme `https`, suffix `.example.com` (port included when given). */
  readonly wildcards: ReadonlyArray<{ readonly scheme: string; readonly suffix: string }>;
  /** Upper-case; null for any. */
  readonly methods: readonly string[] | null;
  /** Lower-case; null to allow what the preflight asks for. */
  readonly headers: readonly string[] | null;
  readonly exposeHeaders: readonly string[];
  readonly credentials: boolean;
  readonly maxAgeSeconds: number;
}

const SCHEME_HOST = /^([a-z][a-z0-9+.-]*):\/\/(\*\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$/;

/**
 * Checks and normalises a schema-valid `cors`. Paths of problems are relative to the
 * `cors` key.
 *
 * @example
 * const { config } = normalizeCors({ origins: ['https://*.example.com'], credentials: true }, baseDir);
 */
export function normalizeCors(raw: RawCors, _baseDir?: string): { config?: CorsConfig; problems: PathProblem[]; warnings: PathProblem[] } {
  const problems: PathProblem[] = [];
  const warnings: PathProblem[] = [];
  const credentials = raw.credentials ?? false;
  let anyOrigin = false;
  const origins: string[] = [];
  const wildcards: Array<{ scheme: string; suffix: string }> = [];
  raw.origins.forEach((text, i) => {
    const at = ['origins', i];
    const value = text.trim().toLowerCase();
    if (value === '*') {
      if (credentials) problems.push({ path: at, message: 'origin "*" with `credentials: true` would let any site act with the user\'s cookies; list the origins' });
      anyOrigin = true;
      return;
    }
    if (value === 'null') {
      problems.push({ path: at, message: 'origin "null" is sent by sandboxed frames and local files of any site; allowing it is allowing everyone' });
      return;
    }
    const m = SCHEME_HOST.exec(value);
    if (m === null) {
      const hint = /^[a-z][a-z0-9+.-]*:\/\/[^/]+\/.*/.test(value) ? ' (an origin has no path or trailing slash)' : value.includes('*') ? ' (only a leading "*." in the host is allowed)' : '';
      problems.push({ path: at, message: `${JSON.stringify(text)} is not an origin such as "https://app.example.com"${hint}` });
      return;
    }
    const [, scheme, star, host, port] = m as unknown as [string, string, string | undefined, string, string | undefined];
    if (port !== undefined && Number(port) > 65535) {
      problems.push({ path: at, message: `${JSON.stringify(text)}: port out of range` });
      return;
    }
    // Browsers leave the default port out of Origin; so must the list, or it never matches.
    const defaultPort = (scheme === 'https' && port === '443') || (scheme === 'http' && port === '80');
    const hostPort = defaultPort || port === undefined ? host : `${host}:${port}`;
    if (star !== undefined) wildcards.push({ scheme, suffix: `.${hostPort}` });
    else origins.push(`${scheme}://${hostPort}`);
  });
  const upper = (raw.methods ?? ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']).map((m) => m.toUpperCase());
  const methods = upper.includes('*') ? null : [...new Set(upper)];
  const lowerHeaders = raw.headers?.map((h) => h.toLowerCase());
  const headers = lowerHeaders === undefined || lowerHeaders.includes('*') ? null : [...new Set(lowerHeaders)];
  const maxAgeMs = durationMs(raw.maxAge ?? '10m') ?? 600_000;
  if (maxAgeMs > 24 * 3_600_000) warnings.push({ path: ['maxAge'], message: 'browsers cap the preflight cache at 2h (Chrome) to 24h (Firefox); a longer maxAge has no effect' });
  if (problems.length > 0) return { problems, warnings };
  return {
    config: {
      anyOrigin,
      origins: [...new Set(origins)],
      wildcards,
      methods,
      headers,
      exposeHeaders: [...new Set((raw.exposeHeaders ?? []).map((h) => h.toLowerCase()))],
      credentials,
      maxAgeSeconds: Math.floor(maxAgeMs / 1000),
    },
    problems,
    warnings,
  };
}
