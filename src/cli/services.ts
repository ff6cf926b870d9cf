/**
 * `brisk services`: the services a running Brisk supervises, through its admin API (the
 * address and token come from the config file, or `--admin`).
 *
 *     brisk services [NAME] [--json]               instances: pid, port, state, uptime, RSS, CPU, restarts and why
 *     brisk services restart NAME [--instance N]   rolling restart (waits until done)
 *     brisk services scale NAME COUNT|auto         set the count, or hand it back to the autoscaler
 */
import { request } from '../core/undici.js';
import { loadConfig } from '../config/load.js';
import type { InstanceSnapshot, ServiceSnapshot } from '../observability/snapshot.js';

/** Where the admin API is and how to talk to it. */
export interface AdminTarget {
  readonly base: string;
  readonly token: string | undefined;
}

type Out = { write(text: string): unknown };

/** Runs `brisk services …`; resolves to the exit code. */
export async function runServices(args: readonly string[], options: { config: string; admin?: string; json: boolean; instance?: string }, out: Out, err: Out): Promise<number> {
  const target = await adminTarget(options.config, options.admin, err);
  if (target === null) return 1;
  const [sub, name, arg] = args;
  try {
    if (sub === 'restart' || sub === 'scale') {
      if (name === undefined) {
        err.write(`brisk services ${sub}: name the service, e.g. brisk services ${sub} products${sub === 'scale' ? ' 4' : ''}\n`);
        return 2;
      }
      if (sub === 'restart') {
        const body: Record<string, unknown> = { wait: true };
        if (options.instance !== undefined) body['instance'] = Number(options.instance);
        out.write(`restarting ${name}${options.instance === undefined ? ' (rolling: one instance after the other)' : ` instance #${options.instance}`}…\n`);
        const r = await call(target, 'POST', `/api/services/${encodeURIComponent(name)}/restart`, body);
        if (r.status !== 200) return failed(r, err);
        out.write(options.json ? `${JSON.stringify(r.body, null, 2)}\n` : `${String((r.body as { message: string }).message)}\n`);
        return 0;
      }
      if (arg === undefined || (arg !== 'auto' && !/^\d+$/.test(arg))) {
        err.write('brisk services scale: give a count or "auto", e.g. brisk services scale products 4\n');
        return 2;
      }
      const r = await call(target, 'POST', `/api/services/${encodeURIComponent(name)}/scale`, arg === 'auto' ? { auto: true } : { instances: Number(arg) });
      if (r.status !== 200) return failed(r, err);
      const s = r.body as ServiceSnapshot;
      out.write(options.json ? `${JSON.stringify(s, null, 2)}\n` : `${s.name}: ${s.desired} instance(s) wanted, ${s.ready} ready; scaling ${s.scaling}\n`);
      return 0;
    }
    const one = sub;
    const r = await call(target, 'GET', one === undefined ? '/api/services' : `/api/services/${encodeURIComponent(one)}`);
    if (r.status !== 200) return failed(r, err);
    const list = one === undefined ? (r.body as { services: ServiceSnapshot[] }).services : [r.body as ServiceSnapshot];
    out.write(options.json ? `${JSON.stringify(one === undefined ? list : list[0], null, 2)}\n` : formatServices(list, Date.now()));
    return 0;
  } catch (e) {
    err.write(`brisk services: cannot reach the admin API at ${target.base}: ${(e as Error).message}; is Brisk running?\n`);
    return 1;
  }
}

/** The admin API's address and token: `--admin`, else the config file's `admin`. */
export async function adminTarget(configFile: string, admin: string | undefined, err: Out, command = 'brisk services'): Promise<AdminTarget | null> {
  if (admin !== undefined) return { base: admin.includes('://') ? admin.replace(/\/$/, '') : `http://${admin}`, token: process.env['BRISK_ADMIN_TOKEN'] };
  const loaded = await loadConfig(configFile);
  if (!loaded.ok) {
    err.write(`${command}: ${configFile} is invalid (brisk check shows why); give the admin address with --admin HOST:PORT\n`);
    return null;
  }
  const a = loaded.config.admin;
  if (a === undefined) {
    err.write(`${command}: ${configFile} has no admin address; ${command} talks to the admin API (add admin: { address: 127.0.0.1:9901 })\n`);
    return null;
  }
  const host = a.host === '0.0.0.0' || a.host === '' ? '127.0.0.1' : a.host === '::' ? '[::1]' : a.host.includes(':') ? `[${a.host}]` : a.host;
  return { base: `http://${host}:${a.port}`, token: a.token };
}

/** One admin API call; the body parsed as JSON when it is. */
export async function call(target: AdminTarget, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = {};
  if (target.token !== undefined) headers['authorization'] = `Bearer ${target.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(`${target.base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }), headersTimeout: 600_000, bodyTimeout: 600_000 });
  const text = await res.body.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: shown as it is.
  }
  return { status: res.statusCode, body: parsed };
}

function failed(r: { status: number; body: unknown }, err: Out): number {
  const e = (r.body as { error?: { code?: string; message?: string } }).error;
  err.write(e === undefined ? `brisk services: the admin API answered ${r.status}\n` : `brisk services: ${e.code}: ${e.message}\n`);
  return 1;
}

/** The human table: one block per service, one row per instance. */
export function formatServices(list: readonly ServiceSnapshot[], now: number): string {
  if (list.length === 0) return 'no services (the configuration has no services section)\n';
  const blocks = list.map((s) => {
    const restarts = Object.entries(s.restarts).map(([reason, n]) => `${reason} ${n}`).join(', ') || 'none';
    const head = `${s.name}  upstream ${s.upstream}  ready ${s.ready}/${s.desired}  instances ${s.min}..${s.max}  scaling ${s.scaling}  restarts: ${restarts}`;
    const lines = [head];
    if (s.problem !== null) lines.push(`  PROBLEM ${s.problem.code}: ${s.problem.message}`);
    if (s.rollout !== null) lines.push(`  rolling restart: ${s.rollout.done}/${s.rollout.total} (${s.rollout.reason})`);
    const rows = [['#', 'PID', 'PORT', 'STATE', 'UPTIME', 'RSS', 'CPU', 'IN-FLIGHT', 'RESTARTS', 'LAST RESTART'], ...s.instances.map((i) => row(i, now))];
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    for (const r of rows) lines.push(`  ${r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')}`.trimEnd());
    return lines.join('\n');
  });
  return `${blocks.join('\n\n')}\n`;
}

function row(i: InstanceSnapshot, now: number): string[] {
  const last = i.lastRestart === null ? '-' : `${i.lastRestart.reason}: ${i.lastRestart.detail} (${duration(now - i.lastRestart.at)} ago)`;
  return [
    String(i.id),
    i.pid === null ? '-' : String(i.pid),
    String(i.port),
    i.state,
    duration(i.uptimeS * 1000),
    i.rssBytes === null ? '-' : `${Math.round(i.rssBytes / 1024 / 1024)}MB`,
    i.cpuPercent === null ? '-' : `${i.cpuPercent.toFixed(1)}%`,
    String(i.inFlight),
    String(i.restarts),
    last,
  ];
}

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}
