/**
 * The rules every gateway has out of the box. A config turns them all off with
 * `alerts.defaultRules: false`, one off with a rule of the same name and
 * `enabled: false`, or changes one key by key with a rule of the same name
 * (`{ name: host-cpu, expr: "host_cpu > 95%" }`).
 */
import type { RawAlertRule } from './rule-schema.js';

export const DEFAULT_RULES: readonly RawAlertRule[] = [
  {
    name: 'upstream-no-healthy-target',
    expr: 'healthy_targets(upstream="*") < 1',
    // Long enough for the first health probes of a new upstream to answer.
    for: '5s',
    severity: 'critical',
    summary: 'Upstream {{labels.upstream}} has no healthy target',
    message: 'Every target of {{labels.upstream}} is down or ejected: its routes answer 503 (or their fallback).',
  },
  {
    name: 'target-unhealthy',
    expr: 'target_unhealthy(upstream="*")',
    for: '10s',
    severity: 'warning',
    groupBy: ['upstream'],
    summary: 'Target {{labels.target}} of {{labels.upstream}} is {{labels.health}}',
    message: 'Reason: {{labels.reason}}',
  },
  {
    name: 'breaker-open',
    expr: 'breaker_open(upstream="*")',
    severity: 'critical',
    summary: 'Circuit breaker of {{labels.upstream}} is open',
    message: 'Requests to {{labels.upstream}} fail fast until probe requests succeed.',
  },
  {
    name: 'high-error-ratio',
    expr: 'error_ratio(route="*", window="5m", min_requests=20) > 5%',
    for: '1m',
    keepFiringFor: '1m',
    resolveThreshold: '2%',
    severity: 'warning',
    summary: 'Route {{labels.route}} fails {{value}} of requests (threshold {{threshold}}, 5m)',
  },
  {
    name: 'service-problem',
    expr: 'service_problem(service="*")',
    severity: 'critical',
    summary: 'Service {{labels.service}}: {{labels.reason}}',
    message: 'Error code {{labels.code}}; see docs/services.md. `GET /api/services/{{labels.service}}` shows its instances and their last restarts.',
  },
  {
    name: 'discovery-stale',
    expr: 'discovery_staleness(upstream="*") > 2m',
    for: '30s',
    severity: 'warning',
    summary: 'Targets of {{labels.upstream}} were last confirmed by {{labels.provider}} discovery {{value}} ago',
    message: 'The last good targets keep serving; new instances are not seen and gone ones are not removed. {{labels.reason}} See docs/discovery.md.',
  },
  {
    name: 'event-loop-lag',
    expr: 'event_loop_lag > 200ms',
    for: '30s',
    severity: 'warning',
    summary: 'Gateway event-loop lag is {{value}} (threshold {{threshold}})',
  },
  { name: 'host-cpu', expr: 'host_cpu > 80%', for: '2m', severity: 'warning', summary: 'Host CPU is {{value}} (threshold {{threshold}})' },
  { name: 'host-memory', expr: 'host_memory > 90%', for: '2m', severity: 'warning', summary: 'Host memory is {{value}} used (threshold {{threshold}})' },
  { name: 'disk-used', expr: 'disk_used > 90%', for: '5m', severity: 'warning', summary: 'Disk is {{value}} full (threshold {{threshold}})' },
];
