/**
 * The one registry of error codes a user can see. Every code has an HTTP status (for
 * errors answered to clients) and a description that the docs are generated from; a
 * test fails when a code is used but not listed here or not documented.
 */
export const ERROR_CODES = {
  BRISK_UNAUTHORIZED: { status: 401, description: "The route's `auth` found no valid credentials (missing, malformed, expired or wrong API key, token or password); the answer carries a `WWW-Authenticate` challenge." },
  BRISK_FORBIDDEN: { status: 403, description: "The request is refused by the route's access rules: the client address is outside `ipFilter`, or a CORS preflight asks for an origin, method or header that `cors` does not allow." },
  BRISK_AUTH_UNAVAILABLE: { status: 503, description: "Credentials cannot be checked right now: the forward-auth service is down, slow or failing, the JWKS endpoint has never answered with keys, or password checks are overloaded. Retry later." },
  BRISK_ROUTE_NOT_FOUND: { status: 404, description: 'No route matches the request (host, path, method, headers, query).' },
  BRISK_BAD_REQUEST: { status: 400, description: 'The request is malformed (bad framing, invalid header, smuggling attempt); the connection is closed.' },
  BRISK_UPGRADE_NOT_ALLOWED: { status: 403, description: "The request asks to switch protocols (`Upgrade`) to one the route's `upgrades` does not list (WebSocket is allowed by default); the connection is closed. `Upgrade: h2c` is never refused: it is ignored and the request served as plain HTTP/1.1." },
  BRISK_HEADERS_TOO_LARGE: { status: 431, description: 'The request headers exceed `limits.maxHeaderSize` or `limits.maxHeaderCount`.' },
  BRISK_BODY_TOO_LARGE: { status: 413, description: "The request body exceeds the route's `maxBodySize`." },
  BRISK_REQUEST_TIMEOUT: { status: 408, description: 'The client was too slow to send its headers or body (`limits.headersTimeout`, `limits.requestTimeout`).' },
  BRISK_UPSTREAM_CONNECT_FAILED: { status: 502, description: 'The upstream target refused or failed the connection, or refused an HTTP/2 stream before processing it (REFUSED_STREAM, or past the last stream of its GOAWAY); such a request was never handled, so it is retried on another target whatever its method.' },
  BRISK_UPSTREAM_TLS_FAILED: {
    status: 502,
    description:
      "The TLS handshake with an `https://` target failed: its certificate is not trusted (set the upstream's `tls.ca`), names another host (`tls.servername`), has expired, or the target wants a client certificate (`tls.cert`, `tls.key`); or, with `http2: on`, it did not agree to HTTP/2 by ALPN. Nothing was sent, so another target is tried.",
  },
  BRISK_UPSTREAM_RESET: { status: 502, description: 'The upstream target closed or reset the connection before a full response.' },
  BRISK_UPSTREAM_BAD_RESPONSE: { status: 502, description: 'The upstream target sent an invalid HTTP response.' },
  BRISK_UPSTREAM_CONNECT_TIMEOUT: { status: 504, description: 'Connecting to the upstream target took longer than `timeouts.connect`.' },
  BRISK_UPSTREAM_RESPONSE_TIMEOUT: { status: 504, description: 'The upstream target sent no response headers within `timeouts.response`.' },
  BRISK_UPSTREAM_IDLE_TIMEOUT: { status: 504, description: 'The upstream target stopped sending its body for longer than `timeouts.idle`.' },
  BRISK_UPSTREAM_TOTAL_TIMEOUT: { status: 504, description: 'The whole exchange with the upstream took longer than `timeouts.total`.' },
  BRISK_NO_HEALTHY_TARGET: { status: 503, description: 'The upstream has no target that can take the request.' },
  BRISK_UPSTREAM_OVERLOADED: { status: 503, description: "The upstream is at one of its `limits` (`maxRequests` in flight, `maxPendingRequests` waiting for a connection) or at its adaptive concurrency limit; the request is refused at once, without waiting. `Retry-After` says when to try again." },
  BRISK_CIRCUIT_OPEN: { status: 503, description: "The upstream's `circuitBreaker` is open: its recent error rate passed `errorThreshold`, so requests fail fast until a few probe requests succeed. `Retry-After` says when the breaker lets probes through again." },
  BRISK_SHED: { status: 503, description: "Refused at once to protect the gateway or the route: the route's `concurrency` queue is full, or the gateway is overloaded (`overload`: event-loop lag or queue wait past its threshold) and sheds requests by `priority` (`low` first, `critical` last). `Retry-After` says when to try again." },
  BRISK_QUEUE_TIMEOUT: { status: 503, description: "The request waited in the route's `concurrency` queue for longer than `queueTimeout` (or, while the queue stays congested, longer than `codel.target`) without getting a slot; it was never sent upstream. `Retry-After` says when to try again." },
  BRISK_RATE_LIMITED: { status: 429, description: "The client exceeded one of the route's `rateLimit.limits`; `Retry-After` says when to try again and `RateLimit`/`RateLimit-Policy` describe the quota." },
  BRISK_RATE_LIMIT_UNAVAILABLE: { status: 503, description: 'The rate-limit store (Redis) cannot be reached and the route has `rateLimit.onStoreError: deny` (fail-closed).' },
  BRISK_UPSTREAM_RESPONSE_TOO_LARGE: { status: 502, description: "The upstream target's response body was larger than the caller allows (an aggregate part's `maxBodySize`); it was cut off and not used." },
  BRISK_AGGREGATE_PART_FAILED: { status: 502, description: 'A required part of an `aggregate` route failed (connection, error status, invalid JSON, body too large, or a part it depends on failed); the message names the part, its upstream and the cause.' },
  BRISK_AGGREGATE_PART_TIMEOUT: { status: 504, description: "A required part of an `aggregate` route got no complete answer within its `timeout`, or the whole answer took longer than the route's `timeouts.total`; the message names the part(s). For an optional part the same code appears in the response's `errors` list." },
  BRISK_AGGREGATE_PART_NOT_FOUND: {
    status: 404,
    description: 'A required part of an `aggregate` route answered 404 or 410 (the resource the answer is built around does not exist); the client gets that status, and the message names the part.',
  },
  BRISK_AGGREGATE_PART_STATUS: { status: 502, description: "Appears in an aggregate response's `errors` list: the part's target answered with a non-2xx status (the entry's `status` is that status)." },
  BRISK_AGGREGATE_PART_NOT_JSON: { status: 502, description: "Appears in an aggregate response's `errors` list: the part's target answered 2xx, but the body is not JSON." },
  BRISK_AGGREGATE_PART_SKIPPED: { status: 502, description: "Appears in an aggregate response's `errors` list: the part was not requested because a part it depends on failed, or its template had no value to fill in." },
  BRISK_CACHE_ONLY_IF_CACHED: { status: 504, description: 'The request carried `Cache-Control: only-if-cached` and the route\'s `cache` holds no response it may use for it (RFC 9111 §5.2.1.7).' },
  BRISK_CACHE_PURGE_INVALID: { status: 400, description: 'A cache purge request to the admin API (`POST /api/cache/purge`) names no `url`, `prefix` or `tag`, or is not valid JSON.' },
  BRISK_SHUTTING_DOWN: { status: 503, description: 'The gateway is draining for shutdown and takes no new requests on this connection.' },
  BRISK_INTERNAL: { status: 500, description: 'An unexpected error inside the gateway; it is logged with the request id.' },
  BRISK_ADMIN_NOT_FOUND: { status: 404, description: 'No such admin API endpoint.' },
  BRISK_ADMIN_HOST_REJECTED: {
    status: 403,
    description: 'The request\'s `Host` is not an IP address, `localhost` or one of `admin.allowedHosts`: refused as a guard against DNS rebinding (a web page reaching the admin API through a name it controls). Add the name to `admin.allowedHosts`.',
  },
  BRISK_ADMIN_METHOD_NOT_ALLOWED: { status: 405, description: 'The admin API endpoint does not take this method.' },
  BRISK_ADMIN_UNAUTHORIZED: {
    status: 401,
    description: 'The admin API has a token (`admin.token`) and the request did not carry it: send `Authorization: Bearer <token>`. A browser may open the read-only pages (GET, HEAD) with HTTP Basic auth, the token as the password. `/healthz` and `/readyz` need no token.',
  },
  BRISK_ADMIN_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    description: 'A request that changes targets (`POST`/`DELETE /api/upstreams/NAME/targets`) must say `Content-Type: application/json`: a guard against cross-site form posts, which cannot send it.',
  },
  BRISK_ADMIN_UPSTREAM_NOT_FOUND: { status: 404, description: 'The admin API was asked about an upstream that the configuration in force does not have.' },
  BRISK_TARGET_INVALID: {
    status: 400,
    description: 'A target sent to `POST /api/upstreams/NAME/targets` (or named in a `DELETE`) is invalid: not JSON, no `url`, a URL that is not `http(s)://` or `h2c://host[:port][/path]` or carries credentials, a query or a fragment, a weight outside 1–1000, an unknown key, or a bad drain `timeout`.',
  },
  BRISK_TARGET_EXISTS: { status: 409, description: 'The upstream already has this target (same origin and base path), from the config file or an earlier admin call; remove it first to change it.' },
  BRISK_TARGET_NOT_FOUND: { status: 404, description: 'The upstream has no target with this URL or id (it may have drained already).' },
  BRISK_ADMIN_TOO_MANY_STREAMS: { status: 503, description: 'The admin listener already serves as many live dashboard streams (`GET /api/stream`) as it allows; close a dashboard tab or retry later (`Retry-After`).' },
  BRISK_RELOAD_FAILED: { status: 422, description: 'A reload was asked for but the new configuration is invalid; the old one keeps serving.' },
  BRISK_CONFIG_INVALID: {
    status: 0,
    description:
      'The configuration file is invalid (shown by `brisk check` and at start or reload, one line per problem, `FILE:LINE:COL  path  message`): a schema or semantic problem, a `${VAR}` whose environment variable is not set (give a default: `${VAR:-value}`), or a `${file:PATH}` secret file that cannot be read.',
  },
  BRISK_CONFIG_UNREADABLE: { status: 0, description: 'The configuration file cannot be read or is not valid YAML.' },
  BRISK_LISTEN_FAILED: { status: 0, description: 'A listener could not bind its address (in use, no permission).' },
  BRISK_WORKERS_NEED_FILE: { status: 0, description: 'More than one data-plane worker (`workers`, `--workers`) was asked for a gateway started without a config file: every worker reads the same text the primary checked. Start with `--config FILE`, or with one worker.' },
  BRISK_ALERT_EXPR_INVALID: { status: 0, description: 'An alert rule\'s `expr` cannot be parsed (unknown metric or argument, a unit that does not fit the metric, a missing comparison); the message gives the column and docs/alerting.md lists the metrics.' },
  BRISK_ALERT_RULE_INVALID: { status: 0, description: 'An `alerts` setting is invalid: a duplicate or incomplete rule, an unknown template placeholder, an action with neither or both of `command` and `webhook`, a route naming an unknown receiver.' },
  BRISK_ALERT_DELIVERY_FAILED: { status: 0, description: 'A notification could not be delivered to a receiver (unreachable, non-2xx, or an IM robot answering 200 with an error code); it stays queued on disk and is retried with backoff until `alerts.queue.maxAge`.' },
  BRISK_ALERT_QUEUE_FULL: { status: 0, description: 'The on-disk alert queue holds `alerts.queue.maxItems` notifications (a receiver is down for long); new notifications are dropped until it drains.' },
  BRISK_ALERT_ACTION_FAILED: { status: 0, description: 'An alert action failed: its command could not start, exited non-zero or passed its timeout, or its webhook did not answer 2xx. Actions are not retried.' },
  BRISK_SILENCE_INVALID: { status: 400, description: 'A silence sent to `POST /api/silences` is invalid (no matchers, bad label name, no `duration`/`endsAt`, already over) or `DELETE /api/silences` lacks `?id=`.' },
  BRISK_SILENCE_NOT_FOUND: { status: 404, description: 'No silence with this id (it may have expired).' },
  BRISK_ALERTING_OFF: { status: 409, description: 'Alerting is not running in this gateway, so silences cannot be set.' },
  BRISK_SERVICE_NOT_FOUND: { status: 404, description: 'The admin API was asked about a service (`/api/services/NAME`) that the configuration in force does not have.' },
  BRISK_SERVICE_REQUEST_INVALID: {
    status: 400,
    description: 'A request to `POST /api/services/NAME/restart` or `…/scale` is invalid: not a JSON object, an unknown key, an instance the service does not have, a count outside `instances.min`..`max`, or `{"auto": true}` for a service without `scale`.',
  },
  BRISK_SERVICE_BUSY: { status: 409, description: 'The service is already being restarted (a rolling restart, from the admin API, an alert action or a reload that changed it); wait for it to finish (`GET /api/services/NAME` shows `rollout`).' },
  BRISK_SERVICE_RESTART_FAILED: {
    status: 502,
    description: 'A rolling restart asked for with `"wait": true` stopped early: a replacement instance exited or never became ready. The instances not yet replaced keep running; the log says why the replacement failed.',
  },
  BRISK_SERVICE_START_FAILED: { status: 0, description: "An instance of a service could not be started: its program does not exist or is not executable, or its `cwd` is gone. Logged with the path tried; the service's `service-problem` alert fires. Brisk retries with backoff, within the restart budget." },
  BRISK_SERVICE_CRASHED: { status: 0, description: 'An instance of a service exited on its own (an exit code or a signal). It was taken out of its upstream at once and is started again after the backoff (`restart.initialBackoff`, doubling), within the restart budget.' },
  BRISK_SERVICE_CRASH_LOOP: {
    status: 0,
    description: "A service's instances failed (exited, or never became ready) more often than its restart budget allows (`restart.budget`): Brisk gave it up. Its failing instances are not started again; those still running keep serving; the `service-problem` alert fires. Fix the cause, then `POST /api/services/NAME/restart` (or `brisk services restart NAME`) or reload a changed definition.",
  },
  BRISK_SERVICE_NOT_READY: {
    status: 0,
    description: "An instance did not become ready within `readyTimeout`: nothing listened on its `$PORT` (the program ignores `$PORT`, or listens elsewhere), or its upstream's health check kept failing. It is stopped and counted as a failed start; the `service-problem` alert fires.",
  },
  BRISK_SERVICE_ALL_UNREADY: { status: 0, description: "Every serving instance of a service answers its health check but says it is not ready (e.g. `/readyz` → 503): a dependency they share is down (a database failing over, a cache). Restarting cannot fix that, so none is restarted for failing its check while it lasts (replacements would fail the same way and spend the restart budget); the `service-problem` alert fires, and the problem clears when an instance is ready again. An instance that does not answer at all (hung) is still restarted." },
  BRISK_SERVICE_PORT_IN_USE: { status: 0, description: "An instance exited before it was ready and its port was taken by another process (it was free when Brisk picked it). Brisk starts it again on another port, at once, three times; after that it counts as a failure and the `service-problem` alert fires." },
  BRISK_SERVICE_SCALE_FAILED: { status: 0, description: "A service's `scale.command` could not start, exited non-zero or passed its `commandTimeout`. It is run again when the autoscaler's recommendation changes, or after a minute." },
  BRISK_SERVICE_REGISTER_FAILED: {
    status: 0,
    description:
      "Brisk cannot publish a service's ready instances in the Redis registry (`services.NAME.register`): Redis is down or refuses. Serving here goes on; other nodes keep the entries until their TTL runs out, then (with their default `minTargets`) keep their last view. Logged once per outage; publishing resumes by itself.",
  },
  BRISK_DISCOVERY_UNAVAILABLE: {
    status: 0,
    description:
      "An upstream's discovery provider could not get an answer: the registry (Redis, etcd, the Kubernetes API, a DNS resolver) is down or slow, or the targets file is missing or not valid JSON/YAML. Nothing changes: the targets of the last good answer (or of the snapshot on disk, after a restart) keep serving, health checks still apply to them, and `brisk_discovery_staleness_seconds` grows; the `discovery-stale` alert fires after two minutes. Logged once per outage, and again when it answers.",
  },
  BRISK_DISCOVERY_ANSWER_REFUSED: {
    status: 0,
    description:
      "A discovery provider answered with fewer targets than the upstream's `discovery.minTargets` (default 1: an empty answer). The answer is not applied and the last good targets keep serving, so a registry that loses its data, or a DNS name that briefly resolves to nothing, does not empty a healthy upstream. Set `minTargets: 0` where an empty answer is meant (a service scaled to zero).",
  },
  BRISK_DISCOVERY_INVALID_TARGET: { status: 0, description: "An entry a discovery provider found is not a valid target (not a URL, a scheme other than http, https or h2c, credentials in the URL, a weight outside 1–1000). It is skipped, the other entries apply; logged once per change." },
  BRISK_DISCOVERY_SNAPSHOT_FAILED: {
    status: 0,
    description:
      "The last-known-good snapshot of an upstream's discovery (`discovery.snapshot`, by default `.brisk/discovery/UPSTREAM.json` next to the config file) cannot be written (the directory is read-only or full), or the one found at start is not used (unreadable, not a snapshot, or read from another registry than the one configured now). Serving goes on; only a restart while the registry is down would start without the discovered targets.",
  },
  BRISK_CONFIG_STORE_UNAVAILABLE: {
    status: 0,
    description:
      "The config store (`configStore.etcd`) does not answer: etcd is down, unreachable or slower than `configStore.etcd.timeout`. The revision in force keeps serving (at start: the snapshot of the last applied document, or the file's own routes when there is none) and the watch is retried with backoff; `brisk_config_store_up` is 0 meanwhile. Logged once per outage, and again when etcd answers.",
  },
  BRISK_CONFIG_STORE_REVISION_REFUSED: {
    status: 0,
    description:
      "A revision of the config store document does not check (the same problems `brisk check` and `brisk config push` report, placed at `etcd:KEY@REVISION:LINE:COL`), or holds keys that stay in the file (listeners, admin…). It is not applied; the revision in force keeps serving and `brisk_config_rejected_revision` names it. Push a corrected document with `brisk config push`, which checks before it writes.",
  },
  BRISK_CONFIG_STORE_SNAPSHOT_FAILED: {
    status: 0,
    description:
      "The snapshot of the config store document (`configStore.snapshot`) cannot be written (read-only or full directory), or the one found at start is not used (unreadable, not a snapshot, or of another key). Serving goes on; only a start while etcd is down would miss it.",
  },
  BRISK_TLS_FILE_UNREADABLE: { status: 0, description: 'A TLS certificate or key file cannot be read or parsed, or the key does not belong to the certificate, when a listener starts. The configuration check reports the same at the `cert` or `key` line (`BRISK_CONFIG_INVALID`); this code appears when the files changed after it.' },
} as const satisfies Record<string, { status: number; description: string }>;

/** A stable, documented error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * An error a user can see: it carries a stable code and, for client answers, the HTTP status.
 *
 * @example
 * throw new BriskError('BRISK_NO_HEALTHY_TARGET', 'upstream "products" has no healthy target');
 */
export class BriskError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BriskError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
  }
}

/**
 * The JSON body Brisk answers with for every error it produces itself.
 * Built by hand because it is on the error path of the hot loop and its shape is fixed.
 */
export function errorBody(code: ErrorCode, message: string, requestId: string | undefined, traceId?: string): string {
  // The trace id is 32 hex characters (validated or generated): no escaping needed.
  const trace = traceId === undefined ? '' : `,"traceId":"${traceId}"`;
  return `{"error":{"code":"${code}","message":${JSON.stringify(message)},"requestId":${requestId === undefined ? 'null' : JSON.stringify(requestId)}${trace}}}`;
}
