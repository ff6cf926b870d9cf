// Load generation: wrk when installed (C, one thread, cheap per request — it leaves the
// most CPU to the upstream that shares its core), autocannon otherwise. Both report the
// same shape: { rps, p50, p99 (ms), errors, non2xx, socketErrors, requests, bytes }.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasCommand, runCommand } from './procs.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

// wrk's `done` hook: print everything as one JSON line (latencies in microseconds).
// wrk counts responses with status > 399 in errors.status.
const WRK_LUA = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f,"p50":%.0f,"p90":%.0f,"p99":%.0f,"max":%.0f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;

export function loadTool() {
  const forced = process.env.BENCH_LOAD_TOOL;
  if (forced === 'autocannon' || forced === 'wrk') return forced;
  return hasCommand('wrk') ? 'wrk' : 'autocannon';
}

/**
 * Drive `url` with `connections` keep-alive connections for `seconds`, from `cpus`.
 * Throws only when the load generator itself fails (not on HTTP errors).
 */
export async function runLoad({ tool, url, connections, seconds, cpus, workDir, threads = 1, headers = {} }) {
  return tool === 'wrk' ? runWrk({ url, connections, seconds, cpus, workDir, threads, headers }) : runAutocannon({ url, connections, seconds, cpus, headers });
}

async function runWrk({ url, connections, seconds, cpus, workDir, threads, headers }) {
  const script = path.join(workDir, 'wrk-report.lua');
  if (!fs.existsSync(script)) fs.writeFileSync(script, WRK_LUA);
  const headerArgs = Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
  const args = ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--timeout', '4s', ...headerArgs, '-s', script, url];
  const r = await runCommand('wrk', args, { cpus, timeoutMs: (seconds + 15) * 1000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('WRKJSON '));
  if (line === undefined) {
    throw new Error(`wrk failed (${r.timedOut ? 'timed out' : `code ${r.code}`}): ${(r.stderr || r.stdout).trim().slice(-300)}`);
  }
  const j = JSON.parse(line.slice(8));
  const socketErrors = j.connect + j.read + j.write + j.timeout;
  return {
    requests: j.requests,
    bytes: j.bytes,
    rps: j.requests / (j.duration_us / 1e6),
    p50: j.p50 / 1000,
    p99: j.p99 / 1000,
    non2xx: j.status,
    socketErrors,
    errors: j.status + socketErrors,
  };
}

async function runAutocannon({ url, connections, seconds, cpus, headers }) {
  const args = [path.join(here, 'autocannon-child.mjs'), JSON.stringify({ url, connections, duration: seconds, headers })];
  const r = await runCommand(process.execPath, args, { cpus, timeoutMs: (seconds + 20) * 1000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('ACJSON '));
  if (line === undefined) {
    throw new Error(`autocannon failed (${r.timedOut ? 'timed out' : `code ${r.code}`}): ${(r.stderr || r.stdout).trim().slice(-300)}`);
  }
  return JSON.parse(line.slice(7));
}
