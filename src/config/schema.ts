/**
 * The configuration schema: one source for the JSON Schema (`brisk schema`, editor
 * validation, the generated reference in docs/configuration.md) and for the TypeScript
 * type of the raw file. Every property carries a description because the docs are made
 * from it. Durations and sizes are written the human way ("500ms", "2s", "1m", "64kb")
 * and normalised by the loader into milliseconds and bytes.
 */
import { Type, type Static } from '@sinclair/typebox';
import { AggregateSchema } from '../aggregate/schema.js';
import { AlertsSchema } from '../alerting/schema.js';
import { AuthSchema } from '../middlewares/auth/schema.js';
import { CorsSchema } from '../middlewares/cors/schema.js';
import { IpFilterSchema } from '../middlewares/ip-filter/schema.js';
import { RateLimitSchema } from '../middlewares/rate-limit/schema.js';
import { ConcurrencySchema, OverloadSchema, PrioritySchema } from '../middlewares/shedding/schema.js';
import { CacheSchema } from '../middlewares/cache/schema.js';
import { CircuitBreakerSchema, UpstreamLimitsSchema } from '../upstreams/resilience/overload-schema.js';
import { Duration, Size, Strict } from './schema-kit.js';
import { MAX_TARGET_WEIGHT } from './targets.js';

const Address = Type.String({
  minLength: 1,
  description: 'Where to listen: `HOST:PORT` (`127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:443`) or a bare port.',
});

const Certificate = Strict(
  {
    cert: Type.String({ minLength: 1, description: 'Path to the PEM certificate chain, relative to the config file.' }),
    key: Type.String({ minLength: 1, description: 'Path to the PEM private key, relative to the config file.' }),
    serverNames: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description:
          'SNI names this certificate answers for (`api.example.com`, `*.example.com`). When omitted, the names are read from the certificate. The first certificate is the default for clients that send no SNI.',
      }),
    ),
  },
  'A certificate and its key.',
);

const Tls = Strict(
  {
    certificates: Type.Array(Certificate, { minItems: 1, description: 'Certificates, chosen by SNI.' }),
    http2: Type.Optional(Type.Boolean({ default: true, description: 'Offer HTTP/2 by ALPN (with HTTP/1.1 fallback).' })),
    minVersion: Type.Optional(
      Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], { default: 'TLSv1.2', description: 'Lowest TLS version accepted.' }),
    ),
  },
  'TLS termination for this listener.',
);

const Listener = Strict(
  {
    address: Address,
    name: Type.Optional(Type.String({ minLength: 1, description: 'A name for logs and metrics; defaults to the address.' })),
    tls: Type.Optional(Tls),
  },
  'A listener: an address, optionally with TLS.',
);

const Timeouts = Strict(
  {
    connect: Type.Optional(Duration('Longest wait for a TCP connection to a target.', '5s')),
    response: Type.Optional(Duration('Longest wait for the response headers after the request was sent.', '30s')),
    idle: Type.Optional(Duration('Longest pause between two chunks of the response body.', '60s')),
    total: Type.Optional(Duration('Longest whole exchange, body included; `0` means no limit.', '0')),
  },
  'Timeouts for requests to this upstream.',
);

const Target = Strict(
  {
    url: Type.String({ pattern: '^https?://', description: 'Base URL of the target: `http://127.0.0.1:7001`. A path in the URL is prefixed to every request.' }),
    weight: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TARGET_WEIGHT, default: 1, description: 'Share of the traffic relative to the other targets.' })),
  },
  'One instance of the service.',
);

const Pool = Strict(
  {
    connections: Type.Optional(Type.Integer({ minimum: 1, default: 128, description: 'Most connections kept open to one target.' })),
    keepAliveTimeout: Type.Optional(Duration('How long an idle connection to a target stays open.', '30s')),
  },
  'Connection pool per target.',
);

const Percent = (description: string, def?: number) =>
  Type.Number({ minimum: 0, maximum: 100, description: `${description} A percentage, 0–100.`, ...(def === undefined ? {} : { default: def }) });

const HealthCheck = Strict(
  {
    type: Type.Optional(Type.Union([Type.Literal('http'), Type.Literal('tcp')], { default: 'http', description: '`http`: a request must get an expected status; `tcp`: a connection must open.' })),
    path: Type.Optional(Type.String({ pattern: '^/', default: '/healthz', description: 'Path probed (http).' })),
    method: Type.Optional(Type.Union([Type.Literal('GET'), Type.Literal('HEAD')], { default: 'GET', description: 'Method of the probe (http).' })),
    expectedStatus: Type.Optional(
      Type.String({ pattern: '^\\s*\\d{3}(\\s*-\\s*\\d{3})?(\\s*,\\s*\\d{3}(\\s*-\\s*\\d{3})?)*\\s*$', default: '200-399', description: 'Statuses that count as healthy: `200`, `200-299`, `200,204,300-399`.' }),
    ),
    bodyContains: Type.Optional(Type.String({ minLength: 1, description: 'The probe body must contain this text (http).' })),
    headers: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String(), { description: 'Extra request headers of the probe (http), e.g. a Host.' })),
    interval: Type.Optional(Duration('Time between two probes of a target.', '2s')),
    jitter: Type.Optional(Percent('Random spread added to each interval, so probes of many gateways do not line up.', 10)),
    timeout: Type.Optional(Duration('A probe that takes longer has failed.', '1s')),
    unhealthyThreshold: Type.Optional(Type.Integer({ minimum: 1, default: 2, description: 'Consecutive failed probes that mark a target down.' })),
    healthyThreshold: Type.Optional(Type.Integer({ minimum: 1, default: 2, description: 'Consecutive good probes that mark a down target up again.' })),
    initiallyHealthy: Type.Optional(
      Type.Boolean({ default: false, description: 'Route to a new target before its first probe answers. Off by default: a new target takes traffic only once a probe has passed.' }),
    ),
  },
  'Active health checking: each target is probed on a timer.',
);

const OutlierDetection = Strict(
  {
    consecutive5xx: Type.Optional(Type.Integer({ minimum: 0, default: 5, description: 'Consecutive 5xx answers that eject a target; `0` turns this off.' })),
    consecutiveGatewayFailures: Type.Optional(
      Type.Integer({ minimum: 0, default: 3, description: 'Consecutive connect failures, resets and timeouts that eject a target; `0` turns this off.' }),
    ),
    failureRate: Type.Optional(
      Strict(
        {
          threshold: Type.Optional(Percent('Share of failed requests (5xx or gateway failures) that ejects a target.', 50)),
          minRequests: Type.Optional(Type.Integer({ minimum: 1, default: 20, description: 'Requests a target must have had in the window before its rate counts.' })),
          window: Type.Optional(Duration('The window the rate is measured over.', '10s')),
        },
        'Eject on a failure rate over a sliding window.',
      ),
    ),
    baseEjectionTime: Type.Optional(Duration('How long the first ejection lasts; each further ejection of the same target lasts this times the number of ejections.', '5s')),
    maxEjectionTime: Type.Optional(Duration('The longest an ejection lasts.', '5m')),
    maxEjectionPercent: Type.Optional(Percent('The most targets ejected at once. Never all: at least one target always stays in.', 50)),
  },
  'Passive health checking: targets that fail live traffic are ejected for a while.',
);

const Retry = Strict(
  {
    attempts: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, default: 2, description: 'Retries after the first try (so 2 means at most 3 tries); `0` turns retries off.' })),
    statuses: Type.Optional(
      Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { default: [502, 503, 504], description: 'Response statuses that are retried (besides connect failures, resets and per-try timeouts).' }),
    ),
    perTryTimeout: Type.Optional(Duration('Longest wait for the response headers of one try before the next try; `0` uses `timeouts.response`.', '0')),
    backoff: Type.Optional(
      Strict(
        {
          base: Type.Optional(Duration('Backoff before the first retry (doubled each time, with full jitter).', '10ms')),
          max: Type.Optional(Duration('The longest backoff.', '250ms')),
        },
        'Exponential backoff with jitter between tries.',
      ),
    ),
    budget: Type.Optional(
      Strict(
        {
          ratio: Type.Optional(Percent('Retries allowed as a share of requests over the last 10 s.', 20)),
          minPerSecond: Type.Optional(Type.Number({ minimum: 0, default: 10, description: 'Retries per second always allowed, whatever the ratio.' })),
        },
        'A retry budget, so retries cannot multiply the load during an outage.',
      ),
    ),
    maxBufferedBody: Type.Optional(Size('Request bodies up to this size are kept for a replay; larger bodies are not retried.', '64kb')),
    unsafeMethods: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'Also retry non-idempotent methods (POST, PATCH) without an `Idempotency-Key`. Off by default: such requests are only retried when the connection failed before anything was sent.',
      }),
    ),
  },
  'Retries: only where safe, always on another target when one exists, within a budget.',
);

const Hedge = Strict(
  {
    delay: Type.Optional(
      Type.Union([Type.Literal('p95'), Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h)?\\s*$' }), Type.Number({ minimum: 0 })], {
        default: 'p95',
        description: 'When to send a second try if the first has not answered: a duration, or `p95` for the observed 95th percentile latency of the upstream.',
      }),
    ),
    minDelay: Type.Optional(Duration('Lower bound of the delay when it follows the observed p95.', '5ms')),
  },
  'Hedging: for idempotent requests, one more try to another target after a delay; the first answer wins and the other is cancelled.',
);

const HashKey = Strict(
  {
    source: Type.Union([Type.Literal('header'), Type.Literal('cookie'), Type.Literal('ip'), Type.Literal('path')], { description: 'Where the key comes from.' }),
    name: Type.Optional(Type.String({ minLength: 1, description: 'Header or cookie name (for `header` and `cookie`).' })),
    algorithm: Type.Optional(Type.Union([Type.Literal('ring'), Type.Literal('maglev')], { default: 'ring', description: 'A hash ring with virtual nodes, or a Maglev table.' })),
    boundedLoad: Type.Optional(
      Type.Number({ minimum: 1, default: 1.25, description: 'No target takes more than this factor times the average in-flight load; a hot key spills to the next target.' }),
    ),
  },
  'The key for `consistent-hash`. Requests without the key are spread by round robin.',
);

const Sticky = Strict(
  {
    cookie: Type.Optional(Type.String({ minLength: 1, default: 'brisk_sticky', description: 'Cookie naming the target.' })),
    ttl: Type.Optional(Duration('Cookie lifetime; `0` makes a session cookie.', '0')),
  },
  'Sticky sessions: a client keeps going to the target it first got, while that target is available.',
);

const Upstream = Strict(
  {
    targets: Type.Array(Target, { minItems: 1, description: 'The instances of the service.' }),
    balancer: Type.Optional(
      Type.Union(
        [
          Type.Literal('p2c-ewma'),
          Type.Literal('round-robin'),
          Type.Literal('weighted-round-robin'),
          Type.Literal('least-connections'),
          Type.Literal('random'),
          Type.Literal('consistent-hash'),
        ],
        {
          default: 'p2c-ewma',
          description:
            'How a target is picked. `p2c-ewma` (default): of two random targets, the one with the lower latency (peak EWMA) × in-flight load, divided by weight. `weighted-round-robin` is smooth (like NGINX). `least-connections` is weighted. `consistent-hash` needs `hash`.',
        },
      ),
    ),
    hash: Type.Optional(HashKey),
    stickySession: Type.Optional(Sticky),
    slowStart: Type.Optional(Duration('A target that joins or comes back ramps its share of traffic up over this time; `0` turns it off.', '0')),
    drainTimeout: Type.Optional(
      Duration(
        'How long a target leaving the upstream at runtime (dropped from this file on reload, or drained through the admin API) may finish its requests in flight; what is left then is cut.',
        '30s',
      ),
    ),
    healthCheck: Type.Optional(HealthCheck),
    outlierDetection: Type.Optional(OutlierDetection),
    panicThreshold: Type.Optional(
      Percent('When fewer than this share of targets is available, traffic spreads over all of them (panic mode, logged loudly) rather than overloading the few left.', 50),
    ),
    retry: Type.Optional(Retry),
    limits: Type.Optional(UpstreamLimitsSchema),
    circuitBreaker: Type.Optional(CircuitBreakerSchema),
    timeouts: Type.Optional(Timeouts),
    pool: Type.Optional(Pool),
    hostHeader: Type.Optional(
      Type.Union([Type.Literal('preserve'), Type.Literal('target')], {
        default: 'preserve',
        description: '`preserve` passes the client Host header on; `target` sends the target host instead.',
      }),
    ),
  },
  'A named set of targets that routes send to.',
);

const StringMatch = Type.Union(
  [
    Type.String({ description: 'Exact value.' }),
    Strict(
      {
        exact: Type.Optional(Type.String({ description: 'Exact value.' })),
        prefix: Type.Optional(Type.String({ description: 'Value starts with this.' })),
        regex: Type.Optional(Type.String({ description: 'Value matches this regular expression.' })),
        present: Type.Optional(Type.Boolean({ description: '`true`: must be present (any value); `false`: must be absent.' })),
      },
      'A value matcher.',
    ),
  ],
  { description: 'An exact value, or `{exact|prefix|regex|present}`.' },
);

const Match = Strict(
  {
    host: Type.Optional(
      Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
        description: 'Host names: exact (`api.example.com`) or a wildcard for subdomains (`*.example.com`). The port is ignored.',
      }),
    ),
    path: Type.Optional(
      Type.String({ pattern: '^/', description: 'Exact path, or a pattern with parameters: `/users/:id/orders/:orderId`. A trailing `*` segment matches the rest.' }),
    ),
    pathPrefix: Type.Optional(Type.String({ pattern: '^/', description: 'Path prefix, on segment boundaries: `/api` matches `/api` and `/api/x`, not `/apix`.' })),
    pathRegex: Type.Optional(Type.String({ minLength: 1, description: 'Regular expression on the path; named groups become parameters.' })),
    methods: Type.Optional(
      Type.Array(Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' }), { minItems: 1, description: 'Allowed methods (any valid token, upper-cased).' }),
    ),
    headers: Type.Optional(Type.Record(Type.String({ minLength: 1 }), StringMatch, { description: 'Request headers that must match (names are case-insensitive).' })),
    query: Type.Optional(Type.Record(Type.String({ minLength: 1 }), StringMatch, { description: 'Query parameters that must match.' })),
  },
  'What requests the route takes. Every given condition must hold. When several routes match, the most specific wins: exact host over wildcard host over any host; then exact path over parameter pattern over regex over prefix (longer first); then the route with more conditions; then the first in the file.',
);

const HeaderEdits = Strict(
  {
    set: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String(), { description: 'Headers to set (replacing any value).' })),
    add: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String(), { description: 'Headers to append (keeping existing values).' })),
    remove: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Headers to remove.' })),
  },
  'Header edits. `set` and `add` values may use `${param}` for route parameters and `${requestId}`.',
);

const Rewrite = Strict(
  {
    stripPrefix: Type.Optional(Type.String({ pattern: '^/', description: 'Remove this prefix from the path before forwarding.' })),
    addPrefix: Type.Optional(Type.String({ pattern: '^/', description: 'Add this prefix to the path before forwarding.' })),
    path: Type.Optional(Type.String({ pattern: '^/', description: 'Replace the path with this template; `:name` or `${name}` is filled from route parameters. The query string is kept.' })),
  },
  'Path rewrites, applied in the order stripPrefix, path, addPrefix.',
);

const Fallback = Strict(
  {
    status: Type.Optional(Type.Integer({ minimum: 200, maximum: 599, default: 200, description: 'Status of the static answer.' })),
    body: Type.Optional(Type.String({ description: 'Body of the static answer.' })),
    contentType: Type.Optional(Type.String({ minLength: 1, default: 'application/json', description: 'Content type of the static answer.' })),
    upstream: Type.Optional(Type.String({ minLength: 1, description: 'Send to this upstream instead (a standby service, a read-only replica). Excludes `body`.' })),
  },
  'What the route answers while its upstream\'s circuit breaker is open: a static answer, or another upstream.',
);

const Route = Strict(
  {
    name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.:-]+$', description: 'Unique name for logs, metrics and the admin API.' }),
    match: Type.Optional(Match),
    upstream: Type.Optional(Type.String({ minLength: 1, description: 'Name of the upstream the route sends to. A route has either `upstream` or `aggregate`.' })),
    rewrite: Type.Optional(Rewrite),
    requestHeaders: Type.Optional(HeaderEdits),
    responseHeaders: Type.Optional(HeaderEdits),
    maxBodySize: Type.Optional(Size('Largest request body accepted (413 past it); `0` means no limit.')),
    timeouts: Type.Optional(Timeouts),
    retry: Type.Optional(Retry),
    hedge: Type.Optional(Hedge),
    fallback: Type.Optional(Fallback),
    priority: Type.Optional(PrioritySchema),
    concurrency: Type.Optional(ConcurrencySchema),
    ipFilter: Type.Optional(IpFilterSchema),
    cors: Type.Optional(CorsSchema),
    auth: Type.Optional(AuthSchema),
    rateLimit: Type.Optional(RateLimitSchema),
    cache: Type.Optional(CacheSchema),
    aggregate: Type.Optional(AggregateSchema),
  },
  'A route: which requests, which upstream, what to change on the way. Its middlewares run in the order ipFilter, cors, auth, rateLimit, cache, concurrency, before a target is picked.',
);

const Limits = Strict(
  {
    maxHeaderSize: Type.Optional(Size('Largest request head (request line and headers); 431 past it.', '16kb')),
    maxHeaderCount: Type.Optional(Type.Integer({ minimum: 1, default: 100, description: 'Most request headers; 431 past it.' })),
    headersTimeout: Type.Optional(Duration('Longest time a client may take to send the request head.', '10s')),
    requestTimeout: Type.Optional(Duration('Longest time a client may take to send the whole request, body included; `0` means no limit (use it for huge uploads).', '0')),
    keepAliveTimeout: Type.Optional(Duration('How long an idle client connection stays open.', '5s')),
    maxBodySize: Type.Optional(Size('Default for routes that set no `maxBodySize`; `0` means no limit.', '0')),
  },
  'Limits that protect the gateway from slow or greedy clients.',
);

const Proxy = Strict(
  {
    trustedProxies: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description:
          'Addresses or CIDR ranges (IPv4, IPv6) of proxies in front of Brisk. Only from these is an incoming `X-Forwarded-For`/`Forwarded` kept and extended; from anyone else it is replaced.',
      }),
    ),
    via: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Literal(false)], { default: 'brisk', description: 'Pseudonym added to `Via`, or `false` for none.' })),
    requestIdHeader: Type.Optional(Type.String({ minLength: 1, default: 'x-request-id', description: 'Header carrying the request id: passed through when valid, generated otherwise, and echoed in the response.' })),
    drainTimeout: Type.Optional(Duration('On shutdown, how long in-flight requests may finish before connections are cut.', '10s')),
    deadlineHeader: Type.Optional(
      Type.Union([Type.String({ minLength: 1 }), Type.Literal(false)], {
        default: 'x-brisk-timeout-ms',
        description: 'Header that tells the target how many milliseconds are left of the total deadline (`timeouts.total`), or `false` for none.',
      }),
    ),
  },
  'Forwarding behaviour.',
);

const Admin = Strict(
  {
    address: Address,
    allowedHosts: Type.Optional(
      Type.Array(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9.-]+$' }), {
        description:
          'Host names the admin listener answers to, besides IP addresses and `localhost`. Any other `Host` is refused with 403 `BRISK_ADMIN_HOST_REJECTED`: a web page cannot reach the admin API through a DNS name it controls (DNS rebinding). List the names you reach it by (`brisk-admin.internal`).',
      }),
    ),
    token: Type.Optional(
      Type.String({
        description:
          'A bearer token: when set, every admin endpoint but `/healthz` and `/readyz` needs `Authorization: Bearer <token>` (401 `BRISK_ADMIN_UNAUTHORIZED` otherwise). A browser may open the read-only pages (the dashboard) with HTTP Basic auth, the token as the password. At least 16 printable characters, no spaces; read at start.',
      }),
    ),
  },
  'The admin listener (health, config, routes, upstreams, reload). Keep it on loopback or a private network.',
);

const AccessLogOptions = Strict(
  {
    file: Type.Optional(Type.String({ minLength: 1, description: 'Write access lines to this file (relative to the config file) instead of stdout. The file is appended to.' })),
    rotate: Type.Optional(
      Strict(
        {
          maxSize: Type.Optional(Size('Rotate when the file reaches this size.', '100mb')),
          maxFiles: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: 'Rotated files kept (`access.log.1` newest … `access.log.N`), besides the current one.' })),
          daily: Type.Optional(Type.Boolean({ default: false, description: 'Also rotate at midnight UTC.' })),
        },
        'Rotation of the access log file: rename and reopen, no line lost.',
      ),
    ),
    sample: Type.Optional(
      Strict(
        {
          successes: Type.Optional(
            Type.Number({
              minimum: 0,
              maximum: 1,
              default: 1,
              description: 'Share of successful requests (status below 400, no Brisk error code) that are logged. Every 4xx, 5xx and Brisk error is always logged.',
            }),
          ),
        },
        'Sampling of access lines.',
      ),
    ),
  },
  'Access log destination, rotation and sampling.',
);

const Logging = Strict(
  {
    level: Type.Optional(
      Type.Union(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].map((l) => Type.Literal(l)), { default: 'info', description: 'Lowest level logged.' }),
    ),
    format: Type.Optional(
      Type.Union([Type.Literal('auto'), Type.Literal('json'), Type.Literal('pretty')], {
        default: 'auto',
        description: '`auto`: readable lines on a terminal, JSON otherwise.',
      }),
    ),
    accessLog: Type.Optional(
      Type.Union([Type.Boolean(), AccessLogOptions], {
        default: true,
        description:
          'One line per request: id, trace id, route, upstream, target, status, duration, bytes. `true`: to stdout with the other logs; `false`: off; an object: to a file with rotation, and/or sampled.',
      }),
    ),
  },
  'Logs.',
);

const Metrics = Strict(
  {
    enabled: Type.Optional(
      Type.Boolean({
        default: true,
        description:
          'Record every request for `/metrics` (Prometheus, on the admin listener) and for the live windows of `/api/stats`, the dashboard and alert rules. `false` turns recording off; `/metrics` then answers 404. Read at start: a change needs a restart.',
      }),
    ),
  },
  'Request metrics. See [observability.md](observability.md#metrics) for the metric names.',
);

const Otlp = Strict(
  {
    endpoint: Type.String({
      pattern: '^https?://',
      description: 'The OTLP/HTTP collector: `http(s)://host:port`, to which `/v1/traces` is added, or a full URL ending in a path other than `/`, used as is.',
    }),
    headers: Type.Optional(Type.Record(Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' }), Type.String(), { description: 'Headers sent with every export (an API key for a hosted collector).' })),
    timeout: Type.Optional(Duration('How long one export request may take.', '10s')),
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 512, description: 'Spans per export request; a full batch is sent at once.' })),
    interval: Type.Optional(Duration('How often spans waiting in the queue are sent, at the latest.', '2s')),
    maxQueue: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000000, default: 4096, description: 'Spans kept while the collector is slow or down; past this the oldest are dropped (and counted).' }),
    ),
  },
  'Span export with OTLP/HTTP (JSON encoding).',
);

const Tracing = Strict(
  {
    propagate: Type.Optional(
      Type.Boolean({
        default: true,
        description:
          'W3C Trace Context: read `traceparent`/`tracestate`, start a trace when there is none, send each upstream try its own span id, and write the trace id into access logs and error bodies. `false` passes the headers through untouched.',
      }),
    ),
    sampleRatio: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 1,
        default: 1,
        description: 'Share of new traces (no valid incoming `traceparent`) that are sampled. An incoming trace keeps its caller’s sampled flag (parent-based sampling).',
      }),
    ),
    serviceName: Type.Optional(Type.String({ minLength: 1, default: 'brisk', description: 'The `service.name` of exported spans.' })),
    otlp: Type.Optional(Otlp),
  },
  'Distributed tracing: W3C Trace Context propagation and optional span export (OTLP/HTTP).',
);

export const ConfigSchema = Strict(
  {
    listen: Type.Array(Listener, { minItems: 1, description: 'Where the gateway takes traffic.' }),
    admin: Type.Optional(Admin),
    limits: Type.Optional(Limits),
    proxy: Type.Optional(Proxy),
    overload: Type.Optional(OverloadSchema),
    logging: Type.Optional(Logging),
    metrics: Type.Optional(Metrics),
    tracing: Type.Optional(Tracing),
    upstreams: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.:-]+$' }), Upstream, { description: 'Named upstreams (services).' }),
    routes: Type.Array(Route, { description: 'Routes, most specific match wins.' }),
    alerts: Type.Optional(AlertsSchema),
  },
  'The Brisk configuration file.',
);

/** The configuration as written in the file (durations and sizes not yet normalised). */
export type RawConfig = Static<typeof ConfigSchema>;
export type RawUpstream = Static<typeof Upstream>;
export type RawRetry = Static<typeof Retry>;
export type RawHedge = Static<typeof Hedge>;
export type RawRoute = Static<typeof Route>;
export type RawMatch = Static<typeof Match>;
export type RawStringMatch = Static<typeof StringMatch>;
export type RawHeaderEdits = Static<typeof HeaderEdits>;
