/**
 * The route key `auth`: its schema (plugged into the config schema by the loader) and the
 * normaliser that checks what the schema cannot (hashes, key files, PEM keys, algorithm
 * and key pairings) and produces the runtime {@link AuthConfig}. Files named here (key
 * lists, PEM keys, secrets) are read by the normaliser, so a reload re-reads them and a
 * broken file fails the reload instead of the first request.
 *
 * The normalised config is plain data (strings and numbers), so that the loader can
 * freeze it and the admin API can show it (redacted); keys and hashes are parsed into
 * their runtime forms when the middleware is built.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { isHeaderName } from '../../config/addresses.js';
import type { PathProblem, PathSegment } from '../../config/positions.js';
import { MAX_DURATION_MS, durationMs, sizeBytes } from '../../config/units.js';
import { parseHash } from './secrets.js';
import { Duration, Size, Strict } from '../../config/schema-kit.js';

// ---- schema ---------------------------------------------------------------------------

const HeaderName = (description: string, def?: string) =>
  Type.String({ minLength: 1, pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", description, ...(def === undefined ? {} : { default: def }) });

const NamedHash = Strict(
  {
    name: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^:\\s]+$', description: 'Who this is: the key or user name (no spaces or colons). Becomes the identity subject.' }),
    hash: Type.String({
      minLength: 1,
      description: 'The hash of the key or password, made by `brisk hash-key`: `scrypt:N:r:p:SALT:HASH`, or `sha256:HEX` for random API keys only. Never the secret itself.',
    }),
  },
  'A name and the hash of its secret.',
);

const HashFile = (what: string) =>
  Type.String({
    minLength: 1,
    description: `A file of ${what}, one \`name:hash\` per line (\`#\` starts a comment), relative to the config file. Read at start and at every reload.`,
  });

const ApiKeys = Strict(
  {
    header: Type.Optional(
      Type.Union([HeaderName('Header name.'), Type.Literal(false)], { default: 'x-api-key', description: 'Header carrying the API key, or `false` to not read one.' }),
    ),
    authorization: Type.Optional(Type.Boolean({ default: false, description: 'Also accept `Authorization: ApiKey KEY`.' })),
    query: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Also accept the key in this query parameter. Discouraged: query strings end up in access logs, proxies and browser history.',
      }),
    ),
    keys: Type.Optional(Type.Array(NamedHash, { description: 'The accepted keys, hashed.' })),
    file: Type.Optional(HashFile('API keys')),
  },
  'API keys: the key is hashed and looked up; its name becomes the subject.',
);

const ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

/** A JWS algorithm Brisk verifies. `none` is not one of them, whatever the config says. */
export type JwtAlgorithm = (typeof ALGORITHMS)[number];

const StringOrList = (description: string) =>
  Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], { description });

const Jwt = Strict(
  {
    secret: Type.Optional(Type.String({ minLength: 1, description: 'Shared secret for HS256/384/512, at least as many bytes as the hash (32 for HS256). Prefer `secretFile`.' })),
    secretFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding the shared secret (surrounding whitespace ignored), relative to the config file.' })),
    publicKey: Type.Optional(Type.String({ minLength: 1, description: 'PEM file with the public key or certificate for RS*/PS*/ES*/EdDSA, relative to the config file.' })),
    jwksUrl: Type.Optional(Type.String({ pattern: '^https?://', description: 'URL of the issuer\'s JSON Web Key Set (`https://issuer/.well-known/jwks.json`).' })),
    cacheTtl: Type.Optional(Duration('How long fetched JWKS keys are used before they are fetched again (in the background; old keys keep working while the endpoint is down).', '10m')),
    timeout: Type.Optional(Duration('Longest wait for the JWKS endpoint.', '2s')),
    refreshCooldown: Type.Optional(Duration('A token with an unknown `kid` makes Brisk fetch the JWKS again (key rotation), but not more often than this.', '10s')),
    algorithms: Type.Array(Type.Union(ALGORITHMS.map((a) => Type.Literal(a))), {
      minItems: 1,
      description: 'Accepted signing algorithms (required). A token signed with any other, `none` included, is refused. Do not mix HS* with a public key or JWKS.',
    }),
    issuer: Type.Optional(StringOrList('Accepted `iss` values; the claim is then required.')),
    audience: Type.Optional(StringOrList('Accepted `aud` values (any one must be in the token); the claim is then required. Set it: without it, a token the issuer made for another service is accepted here.')),
    clockSkew: Type.Optional(Duration('Tolerance for `exp`, `nbf` and `iat` when clocks differ.', '30s')),
    requireExp: Type.Optional(Type.Boolean({ default: true, description: 'Refuse tokens without an `exp` claim (tokens that never expire).' })),
    requiredClaims: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Claims that must be present.' })),
    subjectClaim: Type.Optional(Type.String({ minLength: 1, default: 'sub', description: 'The claim that names the subject (the identity passed on).' })),
    header: Type.Optional(
      HeaderName('Header carrying the token. `authorization` expects `Bearer TOKEN`; any other header holds the token itself. Ignored when `cookie` is set.', 'authorization'),
    ),
    cookie: Type.Optional(Type.String({ minLength: 1, description: 'Read the token from this cookie instead of a header.' })),
    maxTokenSize: Type.Optional(Size('Longer tokens are refused before any decoding.', '8kb')),
  },
  'JSON Web Tokens. Exactly one of `secret`, `secretFile`, `publicKey`, `jwksUrl`.',
);

const Basic = Strict(
  {
    realm: Type.Optional(Type.String({ minLength: 1, default: 'brisk', description: 'Realm named in the `WWW-Authenticate: Basic` challenge.' })),
    users: Type.Optional(Type.Array(NamedHash, { description: 'Users and the scrypt hashes of their passwords.' })),
    file: Type.Optional(HashFile('users')),
  },
  'HTTP Basic authentication with hashed passwords.',
);

const ForwardAuth = Strict(
  {
    url: Type.String({ pattern: '^https?://', description: 'The auth service. Asked with GET and the original method, host, URI and client in `X-Forwarded-*`.' }),
    timeout: Type.Optional(Duration('Longest wait for the auth service; past it the request gets 503.', '2s')),
    cacheTtl: Type.Optional(Duration('How long an answer is reused for the same credentials; `0` asks every time.', '5s')),
    cacheSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000, description: 'Most answers kept.' })),
    cacheKey: Type.Optional(
      Type.Union([Type.Literal('request'), Type.Literal('credentials')], {
        default: 'request',
        description:
          '`request`: reuse an answer only for the same credentials, method, host and path (safe when the service decides per URL, like Authelia). `credentials`: the same credentials get the same answer everywhere (for services that only check who the user is).',
      }),
    ),
    requestHeaders: Type.Optional(
      Type.Array(HeaderName('Header name.'), { default: ['authorization', 'cookie'], description: 'Client request headers sent to the auth service (the credentials).' }),
    ),
    copyHeaders: Type.Optional(
      Type.Array(HeaderName('Header name.'), {
        description: 'Headers of an allowing answer copied to the request sent to the target (`x-user-id`). A client sending them itself has them removed.',
      }),
    ),
    subjectHeader: Type.Optional(HeaderName('The answer header that names the subject (for logs and rate limits); one of `copyHeaders` or any other.')),
  },
  'Forward authentication: an auth service decides. 2xx allows; its 3xx and 4xx answers (login redirects, 401, 403) go to the client as they are; when it is down, slow or answers 5xx the client gets 503.',
);

const IdentityHeaders = Strict(
  {
    subject: Type.Optional(
      Type.Union([HeaderName('Header name.'), Type.Literal(false)], { default: 'x-auth-subject', description: 'Header that tells the target the subject, or `false`.' }),
    ),
    method: Type.Optional(HeaderName('Header that tells the target how the client authenticated (`api-key`, `jwt`, `basic`, `forward-auth`).')),
    claims: Type.Optional(
      Type.Record(HeaderName('Header name.'), Type.String({ minLength: 1 }), {
        description: 'Header → claim (a dotted path for nested claims: `realm_access.roles`). Arrays are joined with commas; non-ASCII is percent-encoded.',
      }),
    ),
  },
  'Headers that pass the identity to the target. Brisk removes these names from the client request first, so a client cannot claim an identity by sending them.',
);

/** The schema of the route key `auth`. */
export const AuthSchema = Strict(
  {
    mode: Type.Optional(
      Type.Union([Type.Literal('anyOf'), Type.Literal('allOf')], {
        default: 'anyOf',
        description:
          'With several methods: `anyOf` — the first method (in the order apiKeys, jwt, basic, forwardAuth) whose credentials are present decides, and a failure there is final; forwardAuth decides when no other credentials are present. `allOf` — every method must succeed.',
      }),
    ),
    apiKeys: Type.Optional(ApiKeys),
    jwt: Type.Optional(Jwt),
    basic: Type.Optional(Basic),
    forwardAuth: Type.Optional(ForwardAuth),
    identityHeaders: Type.Optional(IdentityHeaders),
    hideCredentials: Type.Optional(
      Type.Boolean({ default: false, description: 'Remove the credentials (the API key or Authorization header, the JWT cookie) from the request sent to the target.' }),
    ),
  },
  'Authentication: who the client is. Refused requests get 401 with a challenge.',
);

/** `auth` as written in the file. */
export type RawAuth = Static<typeof AuthSchema>;

// ---- normalised config ----------------------------------------------------------------

/** A name and the text of its (validated) hash. */
export interface NamedHashConfig {
  readonly name: string;
  readonly hash: string;
}

export interface ApiKeysConfig {
  /** Lower-case header name, or null. */
  readonly header: string | null;
  readonly authorization: boolean;
  readonly query: string | null;
  readonly keys: readonly NamedHashConfig[];
}

export interface JwtConfig {
  /** Where the verification key comes from; the key material itself for secret and PEM. */
  readonly key: { readonly kind: 'secret'; readonly secret: string } | { readonly kind: 'pem'; readonly pem: string; readonly file: string } | { readonly kind: 'jwks'; readonly url: string };
  readonly cacheTtlMs: number;
  readonly timeoutMs: number;
  readonly refreshCooldownMs: number;
  readonly algorithms: readonly JwtAlgorithm[];
  readonly issuer: readonly string[] | null;
  readonly audience: readonly string[] | null;
  readonly clockSkewMs: number;
  readonly requireExp: boolean;
  readonly requiredClaims: readonly string[];
  readonly subjectClaim: string;
  /** Lower-case header name, or null when the token is read from a cookie. */
  readonly header: string | null;
  readonly cookie: string | null;
  readonly maxTokenSize: number;
}

export interface BasicConfig {
  readonly realm: string;
  readonly users: readonly NamedHashConfig[];
}

export interface ForwardAuthConfig {
  readonly url: string;
  readonly timeoutMs: number;
  readonly cacheTtlMs: number;
  readonly cacheSize: number;
  readonly cacheKey: 'request' | 'credentials';
  /** Lower-case. */
  readonly requestHeaders: readonly string[];
  /** Lower-case. */
  readonly copyHeaders: readonly string[];
  readonly subjectHeader: string | null;
}

export interface IdentityHeadersConfig {
  /** Lower-case header names, or null. */
  readonly subject: string | null;
  readonly method: string | null;
  readonly claims: ReadonlyArray<{ readonly header: string; readonly claim: readonly string[] }>;
}

/** The runtime `auth` of a route. */
export interface AuthConfig {
  readonly mode: 'anyOf' | 'allOf';
  readonly apiKeys: ApiKeysConfig | null;
  readonly jwt: JwtConfig | null;
  readonly basic: BasicConfig | null;
  readonly forwardAuth: ForwardAuthConfig | null;
  readonly identityHeaders: IdentityHeadersConfig;
  readonly hideCredentials: boolean;
}

/** What {@link normalizeAuth} found. Paths are relative to the `auth` key. */
export interface NormalizeAuthResult {
  readonly config?: AuthConfig;
  readonly problems: PathProblem[];
  readonly warnings: PathProblem[];
}

/**
 * Headers that frame or route the message. An identity header by one of these names would
 * let a claim value rewrite the request itself, so they are refused.
 */
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'authorization',
  'cookie',
  'x-forwarded-for',
  'forwarded',
]);

const HMAC_MIN_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 };

/**
 * Checks and normalises a schema-valid `auth`. Relative files are resolved against
 * `baseDir` (the config file's directory) and read now.
 *
 * @example
 * const { config, problems } = normalizeAuth(route.auth, dirname(configPath));
 * for (const p of problems) report(['routes', i, 'auth', ...p.path], p.message);
 */
export function normalizeAuth(raw: RawAuth, baseDir: string): NormalizeAuthResult {
  const problems: PathProblem[] = [];
  const warnings: PathProblem[] = [];
  const problem = (path: readonly PathSegment[], message: string) => problems.push({ path, message });
  const warn = (path: readonly PathSegment[], message: string) => warnings.push({ path, message });
  const ctx: Ctx = { baseDir, problem, warn };

  if (raw.apiKeys === undefined && raw.jwt === undefined && raw.basic === undefined && raw.forwardAuth === undefined) {
    problem([], 'auth needs at least one method: apiKeys, jwt, basic or forwardAuth');
  }
  const apiKeys = raw.apiKeys === undefined ? null : normalizeApiKeys(raw.apiKeys, ctx);
  const jwt = raw.jwt === undefined ? null : normalizeJwt(raw.jwt, ctx);
  const basic = raw.basic === undefined ? null : normalizeBasic(raw.basic, ctx);
  const forwardAuth = raw.forwardAuth === undefined ? null : normalizeForwardAuth(raw.forwardAuth, ctx);
  const identityHeaders = normalizeIdentityHeaders(raw.identityHeaders ?? {}, ctx);

  // A credential header that is also an identity header would be stripped before it is read.
  const credentialHeaders = new Map<string, PathSegment[]>();
  if (apiKeys?.header != null) credentialHeaders.set(apiKeys.header, ['apiKeys', 'header']);
  if (jwt?.header != null) credentialHeaders.set(jwt.header, ['jwt', 'header']);
  const identityNames = [identityHeaders.subject, identityHeaders.method, ...identityHeaders.claims.map((c) => c.header), ...(forwardAuth?.copyHeaders ?? [])];
  for (const name of identityNames) {
    if (name === null) continue;
    const at = credentialHeaders.get(name);
    if (at !== undefined) problem(at, `header ${JSON.stringify(name)} is also an identity header, which Brisk removes from client requests; choose another name`);
  }
  if (problems.length > 0) return { problems, warnings };
  return {
    config: {
      mode: raw.mode ?? 'anyOf',
      apiKeys,
      jwt,
      basic,
      forwardAuth,
      identityHeaders,
      hideCredentials: raw.hideCredentials ?? false,
    },
    problems,
    warnings,
  };
}

interface Ctx {
  readonly baseDir: string;
  problem(path: readonly PathSegment[], message: string): void;
  warn(path: readonly PathSegment[], message: string): void;
}

function normalizeApiKeys(raw: NonNullable<RawAuth['apiKeys']>, ctx: Ctx): ApiKeysConfig {
  const header = raw.header === false ? null : (raw.header ?? 'x-api-key').toLowerCase();
  const authorization = raw.authorization ?? false;
  const query = raw.query ?? null;
  if (header === null && !authorization && query === null) ctx.problem(['apiKeys'], 'apiKeys reads no key: set `header`, `authorization: true` or `query`');
  if (header === 'authorization') ctx.problem(['apiKeys', 'header'], 'to read the key from Authorization, use `authorization: true` (the `ApiKey` scheme) and leave `header` for another name');
  if (query !== null) ctx.warn(['apiKeys', 'query'], 'API keys in the query string end up in access logs and browser history; prefer a header');
  const keys = namedHashes(raw.keys, raw.file, ['apiKeys'], 'keys', ctx);
  if ((raw.keys ?? []).length === 0 && raw.file === undefined) ctx.problem(['apiKeys'], 'apiKeys needs `keys` or `file`');
  return { header, authorization, query, keys };
}

function normalizeBasic(raw: NonNullable<RawAuth['basic']>, ctx: Ctx): BasicConfig {
  const users = namedHashes(raw.users, raw.file, ['basic'], 'users', ctx);
  if ((raw.users ?? []).length === 0 && raw.file === undefined) ctx.problem(['basic'], 'basic needs `users` or `file`');
  users.forEach((u, i) => {
    if (u.hash.startsWith('sha256:')) {
      ctx.warn(['basic', 'users', i, 'hash'], `user ${JSON.stringify(u.name)}: a sha256 hash of a password is cracked quickly if the config leaks; use scrypt (\`brisk hash-key\`)`);
    }
  });
  return { realm: raw.realm ?? 'brisk', users };
}

/** The inline list and the file's lines, validated, names unique across both. */
function namedHashes(inline: ReadonlyArray<{ name: string; hash: string }> | undefined, file: string | undefined, at: PathSegment[], listKey: string, ctx: Ctx): NamedHashConfig[] {
  const out: NamedHashConfig[] = [];
  const seen = new Map<string, string>();
  /** `where` prefixes messages about file lines (the path already locates inline entries). */
  const add = (name: string, hash: string, where: string, path: PathSegment[], prefix: string) => {
    const parsed = parseHash(hash);
    if (!parsed.ok) {
      ctx.problem(path, `${prefix}${parsed.reason}`);
      return;
    }
    const earlier = seen.get(name);
    if (earlier !== undefined) {
      ctx.problem(path, `${prefix}name ${JSON.stringify(name)} is already used by ${earlier}`);
      return;
    }
    seen.set(name, where);
    out.push({ name, hash });
  };
  (inline ?? []).forEach((entry, i) => add(entry.name, entry.hash, `${[...at, listKey, i].join('.')}`, [...at, listKey, i, 'hash'], ''));
  if (file !== undefined) {
    const absolute = resolve(ctx.baseDir, file);
    const text = readText(absolute, [...at, 'file'], ctx);
    if (text !== undefined) {
      text.split(/\r?\n/).forEach((line, i) => {
        const trimmed = line.trim();
        if (trimmed === '' || trimmed.startsWith('#')) return;
        const colon = trimmed.indexOf(':');
        const where = `${absolute}:${i + 1}`;
        const name = colon === -1 ? '' : trimmed.slice(0, colon).trim();
        if (colon === -1 || !/^[^:\s]+$/.test(name)) {
          ctx.problem([...at, 'file'], `${where}: expected "name:hash"`);
          return;
        }
        add(name, trimmed.slice(colon + 1).trim(), where, [...at, 'file'], `${where}: `);
      });
    }
  }
  return out;
}

function readText(absolute: string, path: readonly PathSegment[], ctx: Ctx): string | undefined {
  try {
    return readFileSync(absolute, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') ctx.problem(path, `file not found: ${absolute}`);
    else if (code === 'EACCES') ctx.problem(path, `file not readable (permission denied): ${absolute}`);
    else if (code === 'EISDIR') ctx.problem(path, `${absolute} is a directory`);
    else ctx.problem(path, `file cannot be read: ${absolute}: ${(error as Error).message}`);
    return undefined;
  }
}

function duration(value: string | number | undefined, def: string, path: readonly PathSegment[], ctx: Ctx): number {
  const ms = durationMs(value ?? def) ?? 0;
  if (ms > MAX_DURATION_MS) ctx.problem(path, `duration is too long (at most ${MAX_DURATION_MS} ms, about 24 days)`);
  return ms;
}

function list(value: string | readonly string[] | undefined): readonly string[] | null {
  if (value === undefined) return null;
  return typeof value === 'string' ? [value] : [...value];
}

function normalizeJwt(raw: NonNullable<RawAuth['jwt']>, ctx: Ctx): JwtConfig {
  const at = ['jwt'];
  const algorithms = [...new Set(raw.algorithms as JwtAlgorithm[])];
  const symmetric = algorithms.filter((a) => a.startsWith('HS'));
  const asymmetric = algorithms.filter((a) => !a.startsWith('HS'));
  const sources = (['secret', 'secretFile', 'publicKey', 'jwksUrl'] as const).filter((k) => raw[k] !== undefined);
  let key: JwtConfig['key'] = { kind: 'secret', secret: '' };
  if (sources.length !== 1) {
    ctx.problem(at, sources.length === 0 ? 'jwt needs one of `secret`, `secretFile`, `publicKey`, `jwksUrl`' : `jwt takes one key source, not ${sources.map((s) => `\`${s}\``).join(' and ')}`);
  } else if (raw.secret !== undefined || raw.secretFile !== undefined) {
    let secret = raw.secret;
    if (raw.secretFile !== undefined) secret = readText(resolve(ctx.baseDir, raw.secretFile), [...at, 'secretFile'], ctx)?.trim();
    const where = raw.secret !== undefined ? 'secret' : 'secretFile';
    if (asymmetric.length > 0) {
      // Algorithm confusion starts here: a shared secret must never verify an RS/ES token.
      ctx.problem([...at, 'algorithms'], `a shared secret only verifies HS256/HS384/HS512, not ${asymmetric.join(', ')}`);
    }
    if (secret !== undefined) {
      const bytes = Buffer.byteLength(secret, 'utf8');
      const need = Math.max(0, ...symmetric.map((a) => HMAC_MIN_BYTES[a] ?? 0));
      if (bytes < need) ctx.problem([...at, where], `the secret is ${bytes} bytes; ${symmetric.join('/')} needs at least ${need} (RFC 7518 §3.2)`);
      key = { kind: 'secret', secret };
    }
  } else if (raw.publicKey !== undefined) {
    const file = resolve(ctx.baseDir, raw.publicKey);
    const pem = readText(file, [...at, 'publicKey'], ctx);
    if (symmetric.length > 0) ctx.problem([...at, 'algorithms'], `a public key cannot verify ${symmetric.join(', ')}: list only the key's own algorithms`);
    if (pem !== undefined) {
      const checked = checkPublicKey(pem, asymmetric);
      if (checked !== undefined) ctx.problem([...at, 'publicKey'], `${file}: ${checked}`);
      key = { kind: 'pem', pem, file };
    }
  } else if (raw.jwksUrl !== undefined) {
    const url = parseServiceUrl(raw.jwksUrl, [...at, 'jwksUrl'], ctx);
    if (symmetric.length > 0) ctx.problem([...at, 'algorithms'], `a JWKS holds public keys: ${symmetric.join(', ')} cannot be verified with them`);
    key = { kind: 'jwks', url };
  }

  if (raw.audience === undefined) ctx.warn([...at, 'audience'], 'no `audience`: a token the issuer made for any other service is accepted on this route');
  if (raw.issuer === undefined && key.kind === 'jwks') ctx.warn([...at, 'issuer'], 'no `issuer`: set the expected `iss` so that tokens are tied to the issuer');
  const header = raw.cookie !== undefined ? null : (raw.header ?? 'authorization').toLowerCase();
  const maxTokenSize = sizeBytes(raw.maxTokenSize ?? '8kb') ?? 8192;
  if (maxTokenSize < 64) ctx.problem([...at, 'maxTokenSize'], 'maxTokenSize must be at least 64 bytes');
  return {
    key,
    cacheTtlMs: duration(raw.cacheTtl, '10m', [...at, 'cacheTtl'], ctx),
    timeoutMs: Math.max(1, duration(raw.timeout, '2s', [...at, 'timeout'], ctx)),
    refreshCooldownMs: duration(raw.refreshCooldown, '10s', [...at, 'refreshCooldown'], ctx),
    algorithms,
    issuer: list(raw.issuer),
    audience: list(raw.audience),
    clockSkewMs: duration(raw.clockSkew, '30s', [...at, 'clockSkew'], ctx),
    requireExp: raw.requireExp ?? true,
    requiredClaims: [...new Set(raw.requiredClaims ?? [])],
    subjectClaim: raw.subjectClaim ?? 'sub',
    header,
    cookie: raw.cookie ?? null,
    maxTokenSize,
  };
}

/** Which algorithms a public key can verify, from its type and curve. */
function algorithmsForKey(key: KeyObject): readonly JwtAlgorithm[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return curve === 'prime256v1' ? ['ES256'] : curve === 'secp384r1' ? ['ES384'] : curve === 'secp521r1' ? ['ES512'] : [];
    }
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
    default:
      return [];
  }
}

/** Undefined when the PEM is a public key (or certificate) usable with every listed algorithm; the reason otherwise. */
export function checkPublicKey(pem: string, algorithms: readonly JwtAlgorithm[]): string | undefined {
  // createPublicKey would quietly derive the public half of a private key; a private key
  // does not belong on the gateway, so say so instead.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) return 'this is a private key; give Brisk only the public key (`openssl pkey -pubout`)';
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    return `not a PEM public key or certificate (${(error as Error).message})`;
  }
  const fits = algorithmsForKey(key);
  const misfits = algorithms.filter((a) => !fits.includes(a));
  if (fits.length === 0) return `a ${key.asymmetricKeyType ?? 'unknown'} key cannot verify JWTs`;
  if (misfits.length > 0) return `this ${key.asymmetricKeyType} key cannot verify ${misfits.join(', ')} (it can verify ${fits.join(', ')})`;
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (bits !== undefined && bits < 2048) return `RSA keys shorter than 2048 bits are refused (this one has ${bits})`;
  return undefined;
}

function parseServiceUrl(text: string, path: readonly PathSegment[], ctx: Ctx): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.problem(path, `${JSON.stringify(text)} is not a valid URL`);
    return text;
  }
  if (url.username !== '' || url.password !== '') ctx.problem(path, 'credentials in the URL would be sent in the clear in logs; remove them');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (url.protocol === 'http:' && !loopback) ctx.warn(path, 'plain http to another host: anyone on the path can read or change the answers; use https');
  return url.href;
}

function normalizeForwardAuth(raw: NonNullable<RawAuth['forwardAuth']>, ctx: Ctx): ForwardAuthConfig {
  const at = ['forwardAuth'];
  const url = parseServiceUrl(raw.url, [...at, 'url'], ctx);
  const copyHeaders = [...new Set((raw.copyHeaders ?? []).map((h) => h.toLowerCase()))];
  copyHeaders.forEach((h, i) => {
    if (RESERVED_HEADERS.has(h)) ctx.problem([...at, 'copyHeaders', i], `${JSON.stringify(h)} cannot be copied from the auth answer: it frames or routes the request`);
  });
  return {
    url,
    timeoutMs: Math.max(1, duration(raw.timeout, '2s', [...at, 'timeout'], ctx)),
    cacheTtlMs: duration(raw.cacheTtl, '5s', [...at, 'cacheTtl'], ctx),
    cacheSize: raw.cacheSize ?? 10_000,
    cacheKey: raw.cacheKey ?? 'request',
    requestHeaders: [...new Set((raw.requestHeaders ?? ['authorization', 'cookie']).map((h) => h.toLowerCase()))],
    copyHeaders,
    subjectHeader: raw.subjectHeader?.toLowerCase() ?? null,
  };
}

function normalizeIdentityHeaders(raw: NonNullable<RawAuth['identityHeaders']>, ctx: Ctx): IdentityHeadersConfig {
  const at = ['identityHeaders'];
  const used = new Map<string, string>();
  const check = (name: string, path: PathSegment[], what: string): string => {
    const lower = name.toLowerCase();
    if (!isHeaderName(lower)) ctx.problem(path, `${JSON.stringify(name)} is not a valid header name`);
    else if (RESERVED_HEADERS.has(lower)) ctx.problem(path, `${JSON.stringify(name)} cannot carry the identity: it frames or routes the request`);
    const earlier = used.get(lower);
    if (earlier !== undefined) ctx.problem(path, `header ${JSON.stringify(lower)} is already used for ${earlier}`);
    used.set(lower, what);
    return lower;
  };
  const subject = raw.subject === false ? null : check(raw.subject ?? 'x-auth-subject', [...at, 'subject'], 'the subject');
  const method = raw.method === undefined ? null : check(raw.method, [...at, 'method'], 'the method');
  const claims = Object.entries(raw.claims ?? {}).map(([header, claim]) => ({
    header: check(header, [...at, 'claims', header], `claim ${JSON.stringify(claim)}`),
    claim: claim.split('.'),
  }));
  return { subject, method, claims };
}
