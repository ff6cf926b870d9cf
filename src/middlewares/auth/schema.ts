/**
 * The route key `auth`: its schema (placed in the route schema through the middleware
 * registry) and the runtime {@link AuthConfig} that normalize.ts makes from it.
 *
 * The normalised config is plain data (strings and numbers), so that the loader can
 * freeze it and the admin API can show it (redacted); keys and hashes are parsed into
 * their runtime forms when the middleware is built.
 */
import { Type, type Static } from '../../config/type-builder.js';
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
      Type.Boolean({
        default: true,
        description:
          'Remove the credentials (the API key header or `Authorization: ApiKey`, the JWT header or cookie, the Basic `Authorization`) from the request sent to the target, which learns who the client is from `identityHeaders` instead. `false` passes them on (a target that checks them itself). Forward-auth credentials (session cookies) are always passed on.',
      }),
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
