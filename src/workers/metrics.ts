import { labelString } from '../observability/labels.js';
import { RESTART_REASONS, type WorkerInfo } from './protocol.js';

/**
 * The per-worker families of `/metrics` (the request families are the node's: the
 * workers' requests are replayed into the primary's recorder). Gauges carry a `worker`
 * label (its slot, stable across replacements); counters are kept per slot by the
 * primary, so they stay monotonic when a worker is replaced.
 */
export function workersMetrics(workers: readonly WorkerInfo[], rescued: { readonly handedOver: number; readonly closed: number } = { handedOver: 0, closed: 0 }): string {
  const out: string[] = [];
  const family = (name: string, help: string, type: 'gauge' | 'counter', samples: readonly (readonly [labels: string, value: number])[]): void => {
    out.push(`# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`);
    for (const [labels, value] of samples) out.push(labels === '' ? `${name} ${value}\n` : `${name}{${labels}} ${value}\n`);
  };
  const w = (x: WorkerInfo): string => labelString('worker', String(x.slot));
  family('brisk_workers', 'Data-plane worker processes serving now.', 'gauge', [['', workers.filter((x) => x.state === 'ready').length]]);
  family('brisk_worker_up', 'Whether the worker of this slot serves (1) or is starting or being replaced (0).', 'gauge', workers.map((x) => [w(x), x.state === 'ready' ? 1 : 0]));
  family('brisk_worker_request_share', "The worker's share of the node's requests over the last 10 seconds (0..1): uneven spreading shows here.", 'gauge', workers.map((x) => [w(x), x.share]));
  family('brisk_worker_requests_total', 'Requests finished by the workers of this slot.', 'counter', workers.map((x) => [w(x), x.requests]));
  family('brisk_worker_in_flight_requests', 'Requests the worker holds now.', 'gauge', workers.map((x) => [w(x), x.inFlight]));
  family('brisk_worker_open_connections', 'Client connections the worker holds now.', 'gauge', workers.map((x) => [w(x), x.openConnections]));
  family('brisk_worker_resident_memory_bytes', "The worker process's resident memory.", 'gauge', workers.map((x) => [w(x), x.rssBytes]));
  family('brisk_worker_config_version', 'The config version the worker serves.', 'gauge', workers.map((x) => [w(x), x.version]));
  family(
    'brisk_worker_restarts_total',
    'Workers replaced, by reason: exit (crash, kill, out of memory), stuck (no heartbeat), rolling (a rolling restart).',
    'counter',
    workers.flatMap((x) => RESTART_REASONS.map((r) => [labelString('worker', String(x.slot), 'reason', r), x.restarts[r]] as const)),
  );
  family(
    'brisk_worker_rescued_connections_total',
    'Connections handed to a worker that died before taking it: handed_over (served by another worker), closed (no worker could take it).',
    'counter',
    [
      [labelString('outcome', 'handed_over'), rescued.handedOver],
      [labelString('outcome', 'closed'), rescued.closed],
    ],
  );
  return out.join('');
}
