/**
 * `brisk probe`: the readiness probe for process managers and orchestrators — systemd's
 * `ExecStartPost`, Docker's `HEALTHCHECK`, a Kubernetes `exec` probe where an HTTP one
 * cannot reach the admin port. It asks the admin API's `/readyz` (ready: the listeners
 * are bound, the first runtime is warm, not draining) and exits 0 when ready, 1 when not
 * or when Brisk does not answer within the timeout. With `--wait`, it keeps asking until
 * ready or the timeout (systemd's start-up: `ExecStartPost=brisk probe --wait --timeout 30000`).
 */
import { request } from '../core/undici.js';
import { adminTarget } from './services.js';

interface Out {
  write(s: string): unknown;
}

export interface ProbeOptions {
  readonly config: string;
  readonly admin?: string;
  /** Longest wait, ms (default 3000). */
  readonly timeoutMs?: number;
  /** Ask again until ready or the timeout. */
  readonly wait?: boolean;
}

/** Resolves to the exit code: 0 ready, 1 not ready or not answering, 2 usage. */
export async function runProbe(options: ProbeOptions, stdout: Out, stderr: Out): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 3000;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 1) {
    stderr.write('brisk probe: --timeout takes milliseconds (e.g. 3000)\n');
    return 2;
  }
  const target = await adminTarget(options.config, options.admin, stderr, 'brisk probe');
  if (target === null) return 2;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const left = Math.max(1, deadline - Date.now());
    try {
      const headers: Record<string, string> = target.token === undefined ? {} : { authorization: `Bearer ${target.token}` };
      const res = await request(`${target.base}/readyz`, { headers, signal: AbortSignal.timeout(left) });
      const body = await res.body.text();
      if (res.statusCode === 200) {
        stdout.write(`ready (${target.base}/readyz)\n`);
        return 0;
      }
      last = `${res.statusCode} ${body.trim()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (options.wait !== true || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, Math.min(200, Math.max(1, deadline - Date.now()))));
  }
  stderr.write(`brisk probe: not ready (${target.base}/readyz: ${last})\n`);
  return 1;
}
