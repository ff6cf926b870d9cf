// Runs the open-loop load generator (chaos/loadgen.mjs) as a pinned child process and
// reads back what it recorded, one entry per request.
import fs from 'node:fs';
import path from 'node:path';
import { describeExit, tailFile } from '../../bench/lib/procs.mjs';
import { ROOT, sleep, startProcess, stopChild } from './processes.mjs';

/**
 * Starts the load generator. It ramps up through the warm-up and then runs the measured
 * part at the full rate; `started` resolves to the epoch ms at which the measured part
 * starts (the generator announces it once it is ready), `done` to the recording:
 *
 * LoadResult: { requests: [{ seq, t, lat, lag, status, served, error }] (measured part
 * only, t in ms since its start, served = backend index or -1, error = code or null),
 * warmup: the same for the warm-up, sentAt: send time by sequence number (all requests),
 * backends, unfinished, maxInFlight, rate, durationMs }
 */
export function startLoad({ dir, url, rate, warmupMs, durationMs, method = 'GET', connections, timeoutMs, backends, cpus }) {
  const out = path.join(dir, 'load.json');
  const logPath = path.join(dir, 'loadgen.log');
  const spec = { url, rate, warmupMs, durationMs, method, connections, timeoutMs, out, backends, idPrefix: path.basename(dir) };
  const handle = startProcess({
    name: 'loadgen',
    cmd: process.execPath,
    args: [path.join(ROOT, 'chaos/loadgen.mjs'), JSON.stringify(spec)],
    cpus,
    cwd: ROOT,
    logPath,
  });
  const started = (async () => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const m = /^START (\d+)$/m.exec(readText(logPath));
      if (m) return Number(m[1]);
      if (handle.exit !== null) throw new Error(`load generator ${describeExit(handle.exit)} before starting: ${tailFile(logPath)}`);
      if (Date.now() > deadline) throw new Error('load generator not started after 15 s');
      await sleep(10);
    }
  })();
  const done = (async () => {
    const startAt = await started;
    const bound = startAt - Date.now() + durationMs + timeoutMs + 15_000;
    const ended = await Promise.race([handle.exited.then(() => true), sleep(bound).then(() => false)]);
    if (!ended) {
      await stopChild(handle, 1000);
      throw new Error(`load generator still running ${Math.round(bound / 1000)} s after it started`);
    }
    if (handle.exit.code !== 0 || !fs.existsSync(out)) {
      throw new Error(`load generator ${describeExit(handle.exit)}: ${tailFile(logPath)}`);
    }
    return parse(JSON.parse(fs.readFileSync(out, 'utf8')));
  })();
  done.catch(() => {});
  return { handle, started, done };
}

function readText(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function parse(raw) {
  const requests = [];
  const warmup = [];
  for (let i = 0; i < raw.status.length; i++) {
    const r = {
      seq: i,
      t: raw.sentAt[i],
      lat: raw.latency[i],
      lag: raw.lag[i],
      status: raw.status[i],
      served: raw.served[i],
      error: raw.error[i] === -1 ? null : raw.errorCodes[raw.error[i]],
    };
    (r.t < 0 ? warmup : requests).push(r);
  }
  return { requests, warmup, sentAt: raw.sentAt, backends: raw.backends, unfinished: raw.unfinished, maxInFlight: raw.maxInFlight, rate: raw.rate, durationMs: raw.durationMs };
}
