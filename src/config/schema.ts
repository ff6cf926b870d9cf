/**
 * The configuration schema: one source for the JSON Schema (`brisk schema`, editor
 * validation, the generated reference in docs/configuration.md) and for the TypeScript
 * type of the raw file. Every property carries a description because the docs are made
 * from it. Durations and sizes are written the human way ("500ms", "2s", "1m", "64kb")
 * and normalised by the loader into milliseconds and bytes.
 *
 * This file assembles the sections and holds the gateway's own (listen, admin, limits,
 * proxy, logging, metrics, tracing); the others live with their owners — see README.md
 * in this folder for which is where and why.
 */
import { Type, type Static } from './type-builder.js';
import { AlertsSchema } from '../alerting/schema.js';
import { OverloadSchema } from '../middlewares/shedding/schema.js';
import { DefaultsSchema } from '../router/config/defaults.js';
import { RouteSchema } from '../router/config/schema.js';
import { ConfigStoreSchema } from '../providers/config-store/schema.js';
import { ServicesSchema } from '../supervisor/config/schema.js';
import { UpstreamSchema } from '../upstreams/config/schema.js';
import { Duration, Size, Strict } from './schema-kit.js';

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
    h2c: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'On a listener without `tls`: also take HTTP/2 without TLS (prior knowledge, as gRPC clients and `curl --http2-prior-knowledge` send it) beside HTTP/1.1 on the same port; the first bytes of a connection tell them apart. Off by default, like a second protocol on a port should be (NGINX\'s `http2 on`); without it such a client gets a 400 that names this key. `Upgrade: h2c` is never honoured (the request is served as HTTP/1.1). Ignored with `tls`, where ALPN decides (`tls.http2`).',
      }),
    ),
    transport: Type.Optional(
      Type.Union([Type.Literal('node'), Type.Literal('lean')], {
        description:
          'On a listener without `tls`: who reads its HTTP/1.1 connections. `node` is node:http. `lean` puts Brisk\'s lean HTTP/1.1 server in front of it: requests in a strict subset of HTTP/1.1 (`GET`, `HEAD`, `POST`, `PUT`, `DELETE`, `PATCH`, `OPTIONS` with an origin-form target, HTTP/1.1, visible-ASCII fields, at most one plain `Content-Length`) are served without node\'s request and response objects and answered in one write; at the first request outside it (`Transfer-Encoding`, `Upgrade`, `Expect`, HTTP/1.0, unusual bytes, a head near the limits) the connection goes to node:http, which answers as it does without the switch. When absent: `lean` if the environment variable BRISK_SERVER_TRANSPORT is `lean`, else `node`. Ignored with `tls`.',
      }),
    ),
  },
  'A listener: an address, optionally with TLS.',
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

/**
 * Top-level keys starting with `x-` are the user's own (Docker Compose's convention): a
 * place for YAML anchors (`x-timeouts: &timeouts { … }`) that validation ignores.
 */
export const EXTENSION_KEY_PATTERN = '^x-';

export const ConfigSchema = Type.Object(
  {
    listen: Type.Array(Listener, { minItems: 1, description: 'Where the gateway takes traffic.' }),
    admin: Type.Optional(Admin),
    limits: Type.Optional(Limits),
    proxy: Type.Optional(Proxy),
    workers: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1, maximum: 256 }), Type.Literal('auto')], {
        default: 1,
        description:
          'Data-plane worker processes sharing the listeners (`brisk start --workers` overrides it). `1` runs one process, as before. `auto` takes the CPUs available to the process: its CPU affinity and a cgroup CPU quota (containers). With more than one, the first process runs the control plane (config, admin API, dashboard, alerting, health checks, the supervisor) and supervises the workers. Read at start: a change needs a restart. See [workers.md](workers.md).',
      }),
    ),
    overload: Type.Optional(OverloadSchema),
    logging: Type.Optional(Logging),
    metrics: Type.Optional(Metrics),
    tracing: Type.Optional(Tracing),
    upstreams: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.:-]+$' }), UpstreamSchema, { description: 'Named upstreams (services).' }),
    routes: Type.Array(RouteSchema, { description: 'Routes, most specific match wins.' }),
    defaults: Type.Optional(DefaultsSchema),
    alerts: Type.Optional(AlertsSchema),
    services: Type.Optional(ServicesSchema),
    configStore: Type.Optional(ConfigStoreSchema),
  },
  {
    additionalProperties: false,
    patternProperties: { [EXTENSION_KEY_PATTERN]: Type.Unknown({ description: 'Ignored: a place for YAML anchors shared by the rest of the file.' }) },
    description:
      'The Brisk configuration file. Top-level keys starting with `x-` are ignored (a place for YAML anchors: `x-timeouts: &timeouts { connect: 1s }`, then `timeouts: *timeouts`). Values may use `${VAR}`, `${VAR:-default}` and `${file:PATH}`; see "How values are read".',
  },
);

/** The configuration as written in the file (durations and sizes not yet normalised). */
export type RawConfig = Static<typeof ConfigSchema>;
