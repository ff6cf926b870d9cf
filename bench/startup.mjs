#!/usr/bin/env node
// Start to first answer and idle memory of a one-route gateway (issue 18's bars: ≤ 0.5 s,
// ≤ 80 MB). Starts the bench upstream, then N gateways one after the other, each timed from
// spawn to its first 200 (wall) and by its own CPU time then (user + system from
// /proc/PID/stat, which other work on the machine changes far less); RSS is read 3 s after
// the first answer, idle, and after 2,000 keep-alive requests. Prints a table, or JSON.
//   node bench/startup.mjs [--runs=5] [--json] [--root=DIR (another checkout, built)]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')).map(([k, v]) => [k, v ?? true]));
const ROOT = path.resolve(typeof args.root === 'string' ? args.root : path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
const RUNS = Number(args.runs ?? 5);
const TICK = 1000 / 100; // USER_HZ is 100 on Linux
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function cpuMs(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').slice(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK;
}
function rssMb(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
function get(port, agent) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/1k', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
  });
}
function freePort() {
  return new Promise((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const upstreamPort = await freePort();
const upstream = spawn(process.execPath, [path.join(ROOT, 'bench/upstream.mjs')], { env: { ...process.env, PORT: String(upstreamPort) }, stdio: 'ignore' });
while ((await get(upstreamPort)) === 0) await sleep(20);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-startup-'));
const rows = [];
try {
  for (let i = 0; i < RUNS; i++) {
    const port = await freePort();
    const config = path.join(dir, 'one.yaml');
    fs.writeFileSync(config, `listen:\n  - address: 127.0.0.1:${port}\nupstreams:\n  app:\n    targets:\n      - url: http://127.0.0.1:${upstreamPort}\nroutes:\n  - name: all\n    match:\n      pathPrefix: /\n    upstream: app\n`);
    const t0 = performance.now();
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/src/cli/main.js'), 'start', '--config', config], { cwd: ROOT, stdio: 'ignore', env: { ...process.env, NODE_ENV: 'production' } });
    let status = 0;
    const agent = new http.Agent({ keepAlive: false });
    while (status !== 200) {
      status = await get(port, agent);
      if (child.exitCode !== null) throw new Error(`brisk exited with ${child.exitCode}`);
      if (status !== 200) await sleep(2);
    }
    const wall = performance.now() - t0;
    const cpu = cpuMs(child.pid);
    await sleep(3000);
    const idle = rssMb(child.pid);
    const keep = new http.Agent({ keepAlive: true, maxSockets: 10 });
    for (let k = 0; k < 200; k++) await Promise.all(Array.from({ length: 10 }, () => get(port, keep)));
    keep.destroy();
    const loaded = rssMb(child.pid);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rows.push({ wallMs: Math.round(wall), cpuMs: Math.round(cpu), idleRssMb: Math.round(idle * 10) / 10, rssAfter2000Mb: Math.round(loaded * 10) / 10 });
  }
} finally {
  upstream.kill('SIGTERM');
  fs.rmSync(dir, { recursive: true, force: true });
}
const median = (k) => rows.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(rows.length / 2)];
const summary = { root: ROOT, load: os.loadavg().map((x) => x.toFixed(2)).join(' '), runs: rows, median: { wallMs: median('wallMs'), cpuMs: median('cpuMs'), idleRssMb: median('idleRssMb'), rssAfter2000Mb: median('rssAfter2000Mb') } };
if (args.json) console.log(JSON.stringify(summary, null, 2));
else {
  console.log(`one-route gateway, ${RUNS} starts (${ROOT}), load average ${summary.load}`);
  console.log('| run | wall to first answer ms | CPU to first answer ms | idle RSS MB (3 s) | RSS after 2,000 requests MB |');
  console.log('| --: | --: | --: | --: | --: |');
  rows.forEach((r, i) => console.log(`| ${i + 1} | ${r.wallMs} | ${r.cpuMs} | ${r.idleRssMb} | ${r.rssAfter2000Mb} |`));
  console.log(`| median | ${summary.median.wallMs} | ${summary.median.cpuMs} | ${summary.median.idleRssMb} | ${summary.median.rssAfter2000Mb} |`);
}
