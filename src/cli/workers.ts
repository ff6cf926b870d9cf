/**
 * `brisk workers`, `brisk restart`, `brisk reload`: the data-plane workers of a running
 * Brisk, through its admin API (address and token from the config file, or `--admin`).
 *
 *     brisk workers [--json]   slot, pid, state, config version, requests and share, heartbeat, restarts
 *     brisk restart            rolling restart of the workers (waits until every one was replaced)
 *     brisk reload             re-read the config; prints the version each worker serves
 */
import type { WorkerInfo } from '../workers/protocol.js';
import { adminTarget, call } from './services.js';

type Out = { write(text: string): unknown };

/** Runs one of the commands; resolves to the exit code. */
export async function runWorkersCommand(command: 'workers' | 'restart' | 'reload', options: { config: string; admin?: string; json: boolean }, out: Out, err: Out): Promise<number> {
  const target = await adminTarget(options.config, options.admin, err, `brisk ${command}`);
  if (target === null) return 1;
  try {
    const r =
      command === 'workers' ? await call(target, 'GET', '/api/workers') : command === 'restart' ? await call(target, 'POST', '/api/workers/restart') : await call(target, 'POST', '/api/reload');
    const body = r.body as { error?: { code: string; message: string; problems?: { text: string }[] }; workers?: WorkerInfo[] | { slot: number; version: number }[]; version?: number; status?: string };
    if (r.status !== 200) {
      err.write(`brisk ${command}: ${body.error?.code ?? r.status}: ${body.error?.message ?? 'failed'}\n`);
      for (const p of body.error?.problems ?? []) err.write(`  ${p.text}\n`);
      return 1;
    }
    if (options.json) {
      out.write(`${JSON.stringify(r.body, null, 2)}\n`);
      return 0;
    }
    if (command === 'reload') {
      const perWorker = (body.workers ?? []).map((w) => `worker ${w.slot}: v${w.version}`).join(', ');
      out.write(`reloaded: version ${body.version}${perWorker === '' ? '' : ` (${perWorker})`}\n`);
      return 0;
    }
    if (command === 'restart') out.write(`${body.status}\n`);
    out.write(formatWorkers((body.workers ?? []) as WorkerInfo[]));
    return 0;
  } catch (e) {
    err.write(`brisk ${command}: cannot reach the admin API at ${target.base}: ${(e as Error).message}; is Brisk running?\n`);
    return 1;
  }
}

/** The human table: one row per worker. */
export function formatWorkers(list: readonly WorkerInfo[]): string {
  if (list.length === 0) return 'one process, no workers (start with --workers N or workers: N)\n';
  const rows = [
    ['SLOT', 'PID', 'STATE', 'VERSION', 'REQUESTS', 'SHARE', 'IN-FLIGHT', 'CONNS', 'RSS', 'HEARTBEAT', 'RESTARTS'],
    ...list.map((w) => [
      String(w.slot),
      w.pid === null ? '-' : String(w.pid),
      w.state,
      `v${w.version}`,
      String(w.requests),
      `${(w.share * 100).toFixed(1)}%`,
      String(w.inFlight),
      String(w.openConnections),
      `${Math.round(w.rssBytes / 1024 / 1024)}MB`,
      w.heartbeatAgeMs < 0 ? '-' : `${w.heartbeatAgeMs}ms`,
      Object.entries(w.restarts).map(([k, v]) => `${k} ${v}`).join(', '),
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd()).join('\n') + '\n';
}
