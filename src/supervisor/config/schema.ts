/**
 * The top-level `services` key: the programs Brisk runs itself (the supervisor), one
 * entry per service. Its instances are the targets of one upstream. One source for the
 * JSON Schema, the generated docs (docs/configuration.md) and the raw type; the
 * normaliser is `normalize.ts` next to it.
 *
 * @example
 * ```yaml
 * services:
 *   products:
 *     command: [node, services/products.mjs]
 *     cwd: ./examples/shop
 *     instances: { min: 2, max: 6 }
 *     upstream: products
 *     restart: { unhealthyFor: 5s, slow: { p99: 800ms, for: 30s }, maxMemory: 512mb }
 *     scale: { targetInFlight: 8, scaleDownAfter: 60s }
 * ```
 */
import { Type, type Static } from '../../config/type-builder.js';
import { redisConnectionProps } from '../../config/redis-schema.js';
import { Duration, PatternString, Size, Strict } from '../../config/schema-kit.js';

/** Service names: also metric labels and URL path segments. */
export const SERVICE_NAME = '^[A-Za-z0-9_.-]+$';

const Command = (description: string) =>
  Type.Union([Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }), Type.String({ minLength: 1 })], {
    description: `${description} An argv array (\`[node, server.mjs]\`), run without a shell, or a string, run by \`/bin/sh -c\`.`,
  });

const Instances = Type.Union(
  [
    Type.Integer({ minimum: 1, maximum: 256 }),
    Strict(
      {
        min: Type.Integer({ minimum: 1, maximum: 256, description: 'Instances always running (the autoscaler never goes below).' }),
        max: Type.Optional(Type.Integer({ minimum: 1, maximum: 256, description: 'Most instances at once: the autoscaler, `POST …/scale` and replacements started before the instance they replace never go above. Default: `min`.' })),
      },
      'How many instances.',
    ),
  ],
  { description: 'How many instances run: a number (fixed), or `{min, max}` for autoscaling between them. Default: 1. Each instance gets its own port in `$PORT`.' },
);

const Slow = Strict(
  {
    p99: Duration('An instance whose p99 latency stays above this for `for` while most of its siblings stay below is restarted (a slow database makes every instance slow, and restarts nothing).'),
    for: Type.Optional(Duration('The window the p99 is measured over, and how long the instance must have been ready before it is judged. Whole seconds, 1s to 1h.', '30s')),
    minRequests: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 5,
        description:
          'Requests the instance must have answered in the window for its p99 to count. Below that (a latency-aware balancer keeps traffic away from a slow instance, and hedged requests to it are cancelled), the median duration of its health probes over the window is used instead.',
      }),
    ),
  },
  'Restart an instance that is slow while its siblings are not.',
);

const Budget = Strict(
  {
    restarts: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 5, description: 'Restarts allowed per `window`.' })),
    window: Type.Optional(Duration('The sliding window of the budget.', '1m')),
  },
  'The restart budget of the service. Past it, a crashing service is given up (its failing instances are not started again; an alert fires) until `POST /api/services/NAME/restart` or a reload that changes it; restarts for health, latency or memory wait instead.',
);

const Restart = Strict(
  {
    unhealthyFor: Type.Optional(Duration('An instance failing its upstream\'s health check or ejected by outlier detection this long without a break is restarted (a hung process, a deadlocked event loop) — but not while every instance answers its check and says it is not ready (a dependency they share is down: `BRISK_SERVICE_ALL_UNREADY`). `0`: never.', '10s')),
    slow: Type.Optional(Slow),
    maxMemory: Type.Optional(Size('An instance whose resident memory (RSS) stays above this for two samples in a row (a second apart) is restarted, its replacement started first.')),
    initialBackoff: Type.Optional(Duration('Wait before restarting an instance that exited or never became ready; it doubles with each failure in a row.', '100ms')),
    maxBackoff: Type.Optional(Duration('The longest wait between two restarts.', '30s')),
    resetAfter: Type.Optional(Duration('An instance ready this long ends a run of failures: the next failure waits `initialBackoff` again.', '30s')),
    budget: Type.Optional(Budget),
  },
  'When instances are restarted. Every stop is a drain first: out of the balancer, requests in flight finish (`drainTimeout`), then SIGTERM, then SIGKILL after `stopTimeout`.',
);

const Scale = Strict(
  {
    targetInFlight: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Requests in flight per ready instance the autoscaler aims at (averaged over `window`).' })),
    targetP95: Type.Optional(Duration('The p95 latency of the upstream the autoscaler aims at (over `window`).')),
    targetCpu: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10000, description: 'CPU per ready instance the autoscaler aims at, percent of one core (averaged over `window`).' })),
    tolerance: Type.Optional(Type.Number({ minimum: 0, maximum: 100, default: 10, description: 'No change while every metric is within this many percent of its target.' })),
    window: Type.Optional(Duration('The metrics are averaged over this window.', '10s')),
    scaleUpAfter: Type.Optional(Duration('Stabilisation before adding instances: the lowest recommendation of this window is used.', '0')),
    scaleDownAfter: Type.Optional(Duration('Stabilisation before removing instances: the highest recommendation of this window is used.', '5m')),
    command: Type.Optional(
      Command(
        'Run this instead of starting or stopping instances here: for capacity outside this host (a cloud API, `kubectl scale`). It gets BRISK_SERVICE, BRISK_SCALE_CURRENT, BRISK_SCALE_DESIRED and BRISK_SCALE_REASON in its environment, and must make the upstream\'s targets follow (its file, or the admin API). A service with `scale.command` may have no `command` of its own.',
      ),
    ),
    commandTimeout: Type.Optional(Duration('The longest run of `scale.command`; it is killed past it.', '1m')),
  },
  'Autoscaling between `instances.min` and `instances.max`, by the rule of the Kubernetes HPA: desired = ceil(current × metric / target), the highest over the metrics given.',
);

const Output = Strict(
  {
    log: Type.Optional(Type.Boolean({ default: true, description: 'Write each line of the instances\' stdout (level info) and stderr (level warn) to Brisk\'s log, with `service`, `instance` and `pid`.' })),
    file: Type.Optional(
      Type.String({ minLength: 1, description: 'Also append them to this file, relative to the config file: one line each, with the time, `service#instance` and the stream. `{instance}` in the name gives each instance its own file.' }),
    ),
    rotate: Type.Optional(
      Strict(
        {
          maxSize: Type.Optional(Size('Rotate when the file reaches this size; `0`: never by size.', '100mb')),
          maxFiles: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: 'Rotated files kept (`FILE.1` newest … `FILE.N`).' })),
          daily: Type.Optional(Type.Boolean({ default: false, description: 'Also rotate at midnight UTC.' })),
        },
        'Rotation of the output file.',
      ),
    ),
  },
  'Where the instances\' output goes.',
);

const Register = Strict(
  {
    redis: Type.Union(
      [
        PatternString('^rediss?://', 'must start with redis:// or rediss://', { description: 'One Redis server: `redis://[user:password@]host:6379[/db]`.' }),
        Strict(redisConnectionProps(), 'One server (`url`) or Sentinel (`sentinels` and `name`): the connection keys of every Redis in the config.'),
      ],
      { description: 'The Redis of the registry: a `redis://` URL, or the connection keys rate limits and the cache take (`url`, or `sentinels` and `name` for Sentinel).' },
    ),
    service: Type.Optional(Type.String({ minLength: 1, pattern: '^[^:*?\\[\\]\\s]+$', description: 'The name the instances register under (what other nodes put in `discovery.redis.service`). Default: the service\'s name.' })),
    ttl: Type.Optional(Duration('TTL of each entry; renewed every third of it. An entry of an instance that stopped without a word (Brisk was killed) expires after it.', '10s')),
    advertiseHost: Type.Optional(Type.String({ minLength: 1, description: "The address other nodes reach this node's instances at (this machine's IP or name). Default: 127.0.0.1, reachable from this machine only. Instances must then listen on it (or on all interfaces)." })),
  },
  "Register the ready instances in the Redis registry (the service toolkit's contract), so Brisk nodes on other machines find them with `discovery.redis`: an instance is registered once its first health check passed, and deregistered when it starts to drain.",
);

/** One supervised service. */
export const ServiceSchema = Strict(
  {
    command: Type.Optional(Command('The program of one instance. Each instance gets `$PORT` (where it must listen, on 127.0.0.1 or all interfaces), `$BRISK_INSTANCE` (its number) and `$BRISK_SERVICE`.')),
    cwd: Type.Optional(Type.String({ minLength: 1, description: 'Working directory of the instances, relative to the config file. Default: the config file\'s directory.' })),
    env: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String(), { description: 'Environment variables added to Brisk\'s own.' })),
    instances: Type.Optional(Instances),
    upstream: Type.String({ minLength: 1, description: 'The upstream whose targets the instances are. It needs a `healthCheck`: an instance takes traffic once its first probe passes, and the check is how a hung instance is found.' }),
    readyTimeout: Type.Optional(Duration('An instance not ready (its first health check passed) this long after it started is stopped and counted as a failed start.', '30s')),
    drainTimeout: Type.Optional(Duration('Before an instance is stopped, how long its requests in flight may finish. Default: the upstream\'s `drainTimeout`.')),
    stopTimeout: Type.Optional(Duration('After SIGTERM, how long an instance may take to exit before SIGKILL.', '10s')),
    restart: Type.Optional(Restart),
    scale: Type.Optional(Scale),
    output: Type.Optional(Output),
    register: Type.Optional(Register),
  },
  'A service Brisk runs: its instances are started, health-checked through their upstream, drained before every stop, restarted when they crash, hang, slow down or grow, and scaled with demand.',
);

/** The schema of the top-level `services` key. */
export const ServicesSchema = Type.Record(Type.String({ pattern: SERVICE_NAME }), ServiceSchema, {
  description: 'Services Brisk runs and supervises, by name. See [services.md](services.md).',
});

export type RawService = Static<typeof ServiceSchema>;
export type RawServices = Static<typeof ServicesSchema>;
