#!/usr/bin/env node
// Instructions per request, counted by valgrind (callgrind): a figure that does not move
// with whatever else the machine is doing, for before/after comparisons of a change when no
// quiet machine is at hand. Each build runs twice under callgrind, serving `--warm` and then
// `--warm + --count` requests of 1 KB; the difference divided by `--count` is the cost of a
// request once the JIT has settled (start-up and warm-up cancel out).
//
//   node bench/instructions.mjs [--baseline /path/to/other/checkout] [--count 10000] [--warm 2000] [--connections 4]
//
// Slow (valgrind runs Node ~50× slower: a few minutes per build) and single-threaded.
// Not a throughput figure: syscalls, cache misses and the kernel are not in it.
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { freePort } from './lib/procs.mjs';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1];
}

if (spawnSync('valgrind', ['--version']).status !== 0) {
  process.stderr.write('valgrind is not installed (Debian: apt-get install valgrind)\n');
  process.exit(2);
}

const count = Number(arg('count', '10000'));
const warm = Number(arg('warm', '2000'));
/** Concurrent requests (keep-alive connections) of the client: the bench uses 50. */
const connections = Number(arg('connections', '4'));
const builds = [['this checkout', ROOT]];
const baseline = arg('baseline', process.env.BENCH_BRISK_BASELINE);
if (baseline) builds.push(['baseline', path.resolve(baseline)]);

/** Resolves once 127.0.0.1:port accepts connections; rejects when `child` exits first or after `ms`. */
async function listening(port, child, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before listening`);
    const ok = await new Promise((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`nothing listened on ${port} within ${ms} ms`);
}

async function load(port, n) {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections });
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const res = await pool.request({ path: '/1k', method: 'GET' });
      await res.body.dump();
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  await pool.close();
}

/** Instructions of a Brisk process that served `n` requests, start-up included. */
async function instructions(root, n, work) {
  const upstreamPort = await freePort();
  const port = await freePort();
  const upstream = spawn(process.execPath, [path.join(ROOT, 'bench/upstream.mjs'), '--port', String(upstreamPort)], { stdio: 'ignore' });
  const config = path.join(work, 'brisk.yaml');
  fs.writeFileSync(
    config,
    [`listen: [{ address: "127.0.0.1:${port}" }]`, `upstreams: { bench: { targets: [{ url: "http://127.0.0.1:${upstreamPort}" }] } }`, 'routes: [{ name: all, match: { pathPrefix: / }, upstream: bench }]', 'logging: { accessLog: true, format: json }', ''].join('\n'),
  );
  const out = path.join(work, `callgrind.${n}`);
  const brisk = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath, path.join(root, 'dist/src/cli/main.js'), 'start', '--config', config, '--no-watch'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  brisk.stderr.on('data', (c) => (stderr += c));
  try {
    await listening(port, brisk, 180_000);
    await load(port, n);
  } finally {
    brisk.kill('SIGINT');
    await new Promise((resolve) => brisk.once('exit', resolve));
    upstream.kill();
  }
  const m = /Collected : (\d+)/.exec(stderr);
  if (m === null) throw new Error(`callgrind printed no total for ${root}:\n${stderr.slice(-2000)}`);
  return Number(m[1]);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'brisk-instr-'));
const rows = [];
try {
  for (const [label, root] of builds) {
    process.stdout.write(`${label} (${root}): ${warm} requests, then ${warm + count}…\n`);
    const a = await instructions(root, warm, work);
    const b = await instructions(root, warm + count, work);
    rows.push({ label, root, perRequest: (b - a) / count, startup: a });
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
for (const r of rows) process.stdout.write(`${r.label.padEnd(14)} ${Math.round(r.perRequest).toLocaleString('en-US').padStart(10)} instructions per request\n`);
if (rows.length === 2) process.stdout.write(`this checkout ÷ baseline: ${(rows[0].perRequest / rows[1].perRequest).toFixed(3)} (lower is cheaper)\n`);
if (process.argv.includes('--json')) process.stdout.write(JSON.stringify(rows) + '\n');
