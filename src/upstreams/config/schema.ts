/**
 * The schema of an upstream (`upstreams.<name>`) and of the upstream-call policies a
 * route may override (`timeouts`, `retry`, `hedge`): one source for the JSON Schema, the
 * generated reference and the raw types. Normalised in normalize.ts next to it; the
 * top-level schema (src/config/schema.ts) only places `UpstreamSchema` under `upstreams`.
 */
import { Type, type Static } from '../../config/type-builder.js';
import { redisConnectionProps } from '../../config/redis-schema.js';
import { Duration, PatternString, Size, Strict } from '../../config/schema-kit.js';
import { GRPC_STATUS_NAMES } from '../../core/grpc.js';
import { CircuitBreakerSchema, UpstreamLimitsSchema } from '../resilience/overload-schema.js';
import { DiscoverySchema } from '../../providers/discovery/config/schema.js';
import { MAX_TARGET_WEIGHT } from './targets.js';

export const TimeoutsSchema = Strict(
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
    url: PatternString('^(https?|h2c)://', 'must start with http://, https:// or h2c:// (HTTP/2 without TLS)', {
      description:
        'Base URL of the target: `http://127.0.0.1:7001`; `https://…` for TLS (HTTP/2 by ALPN when the target offers it, see `http2`); `h2c://10.0.0.7:50051` for HTTP/2 without TLS (gRPC services). A path in the URL is prefixed to every request.',
    }),
    weight: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TARGET_WEIGHT, default: 1, description: 'Share of the traffic relative to the other targets.' })),
  },
  'One instance of the service.',
);

const Pool = Strict(
  {
    connections: Type.Optional(Type.Integer({ minimum: 1, default: 128, description: 'Most connections kept open to one target.' })),
    keepAliveTimeout: Type.Optional(Duration('How long an idle connection to a target stays open.', '30s')),
    transport: Type.Optional(
      Type.Union([Type.Literal('undici'), Type.Literal('lean')], {
        description:
          'HTTP/1.1 client for `http://` targets: `undici` (undici\'s `Pool`), or `lean`, Brisk\'s own leaner pool of keep-alive sockets (a strict parser; undici for upgrades, CONNECT and `Expect`). TLS and HTTP/2 targets always use undici or HTTP/2. When absent: `lean`, unless the environment variable BRISK_UPSTREAM_TRANSPORT is `undici`.',
      }),
    ),
  },
  'Connection pool per target.',
);

const Percent = (description: string, def?: number) =>
  Type.Number({ minimum: 0, maximum: 100, description: `${description} A percentage, 0–100.`, ...(def === undefined ? {} : { default: def }) });

const HealthCheck = Strict(
  {
    type: Type.Optional(
      Type.Union([Type.Literal('http'), Type.Literal('tcp'), Type.Literal('grpc')], {
        default: 'http',
        description:
          '`http`: a request must get an expected status; `tcp`: a connection must open; `grpc`: the gRPC health service (`grpc.health.v1.Health/Check`, over HTTP/2) must answer `SERVING`.',
      }),
    ),
    service: Type.Optional(Type.String({ description: 'The service a `grpc` check asks about (`package.Service`); empty or absent: the server as a whole.' })),
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
    shared: Type.Optional(
      Strict(
        {
          redis: Strict(
            {
              ...redisConnectionProps(),
              keyPrefix: Type.Optional(Type.String({ maxLength: 100, default: 'brisk:outlier:', description: 'Prefix of the keys and the channel the hints use.' })),
              timeout: Type.Optional(Duration('Longest wait for one Redis command.', '500ms')),
            },
            'Where the nodes share their hints: one server (`url`) or Sentinel (`sentinels`, `name`).',
          ),
          quorum: Type.Optional(
            Type.Integer({ minimum: 2, maximum: 100, default: 2, description: 'Nodes that must have ejected a target on their own evidence before every node ejects it. At least 2: one confused node cannot eject a target for all.' }),
          ),
          node: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 200,
              description: "This node's name in the hints: one vote per name. Default: the host name and the primary process's id, so the data-plane workers of one node share one vote. Set it where host names repeat (`${NODE_NAME}`).",
            }),
          ),
        },
        'Outlier hints shared between gateway nodes: each node publishes the ejections its own traffic justified; when `quorum` nodes agree, every node ejects the target (until fewer than `quorum` still do). Ejections made on a hint are not published again.',
      ),
    ),
  },
  'Passive health checking: targets that fail live traffic are ejected for a while.',
);

export const RetrySchema = Strict(
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
    grpcStatuses: Type.Optional(
      Type.Array(Type.Union(GRPC_STATUS_NAMES.map((n) => Type.Literal(n))), {
        default: ['UNAVAILABLE'],
        description:
          'gRPC statuses that are retried, like `statuses`: only when the target answered with the status and no message (a trailers-only answer), and only for requests safe to repeat (`idempotent` routes, or `unsafeMethods`).',
      }),
    ),
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

const HedgeBlock = Strict(
  {
    delay: Type.Optional(
      Type.Union([Type.Literal('p95'), Type.Literal('auto'), Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h)?\\s*$' }), Type.Number({ minimum: 0 })], {
        default: 'p95',
        description:
          'When to send a second try if the first has not answered: a duration; `p95` for the observed 95th percentile latency of the upstream; or `auto`: twice the observed p99, within the retry budget, and a target that loses such a race counts as failing (see `hedge: auto`).',
      }),
    ),
    minDelay: Type.Optional(Duration('Lower bound of the delay when it follows the observed latency (`p95`: 5ms; `auto`: 50ms).')),
  },
  'Hedging: for idempotent requests, one more try to another target after a delay; the first answer wins and the other is cancelled.',
);

/** An upstream's `hedge`: `auto` (the default), `off`, or a block. */
export const HedgeSchema = Type.Union([Type.Literal('auto'), Type.Literal('off'), HedgeBlock], {
  default: 'auto',
  description:
    'Hedging of idempotent requests: `auto` (default): when the first try has not answered within twice the upstream\'s observed p99 (at least 50ms), one more try goes to another target, within the retry budget; the first answer wins, and a target that keeps losing such races (it stopped answering) is ejected like one that fails. `off`: never. Or a block with a fixed `delay` or `p95`.',
});

/** A route's `hedge`: the same choices; without the key the route takes its upstream's. */
export const RouteHedgeSchema = Type.Union([Type.Literal('auto'), Type.Literal('off'), HedgeBlock], {
  description: "The route's own hedging (`auto`, `off` or a block, as for the upstream); without it the upstream's `hedge` applies.",
});

const UpstreamTls = Strict(
  {
    ca: Type.Optional(Type.String({ minLength: 1, description: "CA bundle (PEM file) the targets' certificates must chain to, instead of the system's CAs (relative paths: from the config file)." })),
    verify: Type.Optional(
      Type.Boolean({ default: true, description: "Verify the targets' certificates (chain and name). Turn off only for a test target with a self-signed certificate: without it, anyone on the path can read and change the traffic." }),
    ),
    servername: Type.Optional(
      Type.String({ minLength: 1, description: "Name sent by SNI and checked in the target's certificate; default: the host of the target URL (no SNI for an IP address)." }),
    ),
    cert: Type.Optional(Type.String({ minLength: 1, description: 'Client certificate (PEM file) for targets that require mutual TLS; needs `key`.' })),
    key: Type.Optional(Type.String({ minLength: 1, description: 'Private key (PEM file, unencrypted) of the client certificate.' })),
  },
  'TLS to the `https://` targets: which CAs to trust, the name to verify, a client certificate. Checked when the configuration loads.',
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

export const UpstreamSchema = Strict(
  {
    targets: Type.Optional(
      Type.Array(Target, { minItems: 1, description: 'The instances of the service. Leave it out when a service Brisk runs provides them (`services.NAME.upstream`), or `discovery` finds them.' }),
    ),
    discovery: Type.Optional(DiscoverySchema),
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
    retry: Type.Optional(RetrySchema),
    hedge: Type.Optional(HedgeSchema),
    limits: Type.Optional(UpstreamLimitsSchema),
    circuitBreaker: Type.Optional(CircuitBreakerSchema),
    timeouts: Type.Optional(TimeoutsSchema),
    pool: Type.Optional(Pool),
    hostHeader: Type.Optional(
      Type.Union([Type.Literal('preserve'), Type.Literal('target')], {
        default: 'preserve',
        description: '`preserve` passes the client Host header on; `target` sends the target host instead.',
      }),
    ),
    http2: Type.Optional(
      Type.Union([Type.Literal('auto'), Type.Literal('on'), Type.Literal('off')], {
        default: 'auto',
        description:
          'HTTP/2 to `https://` targets. `auto` (default): offered by ALPN beside HTTP/1.1, and used when the target picks it (a TLS gRPC service then works as it is); `on`: HTTP/2 only (a target that does not agree fails with `BRISK_UPSTREAM_TLS_FAILED`); `off`: HTTP/1.1 only. `http://` targets speak HTTP/1.1 and `h2c://` targets HTTP/2 whatever this says.',
      }),
    ),
    tls: Type.Optional(UpstreamTls),
  },
  'A named set of targets that routes send to.',
);

/** An upstream as written in the file (durations and sizes not yet normalised). */
export type RawUpstream = Static<typeof UpstreamSchema>;
export type RawTimeouts = Static<typeof TimeoutsSchema>;
export type RawRetry = Static<typeof RetrySchema>;
export type RawHedge = Static<typeof HedgeSchema> | Static<typeof RouteHedgeSchema>;
