/**
 * The normaliser of the route key `auth`: checks what the schema cannot (hashes, key
 * files, PEM keys, algorithm and key pairings) and produces the runtime
 * {@link AuthConfig}. Files named in the config (key lists, PEM keys, secrets) are read
 * here, so a reload re-reads them and a broken file fails the reload instead of the first
 * request.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { isHeaderName } from '../../config/addresses.js';
import type { PathProblem, PathSegment } from '../../config/positions.js';
import { MAX_DURATION_MS, durationMs, sizeBytes } from '../../config/units.js';
import type { ApiKeysConfig, AuthConfig, BasicConfig, ForwardAuthConfig, IdentityHeadersConfig, JwtAlgorithm, JwtConfig, NamedHashConfig, RawAuth } from './schema.js';
import { parseHash } from './secrets.js';

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
      hideCredentials: raw.hideCredentials ?? true,
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
