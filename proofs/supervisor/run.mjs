#!/usr/bin/env node
// The supervisor proof (issue 13): Brisk runs a service of 3 instances under an open-loop
// load, and one fault after the other — SIGKILL, SIGSTOP, +500 ms, a rolling restart, a
// load step ×4, a crash loop — shows what the clients saw and what the supervisor did.
// Prints the table (or `--json`); exits 1 when a bar is missed. See docs/services.md.
//
//   npm run proof:supervisor [-- --quick] [-- --json] [-- --pm2] [-- --markdown FILE]
//
// Loopback only, bounded in time; the processes it signals are Brisk (started here) and
// the instances Brisk reports.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseProofArgs, writeMarkdownSection } from '../proof-kit.mjs';
import { BriskStack, ROOT, settings } from './brisk-stack.mjs';
import { LoadGen } from './loadgen.mjs';
import { SCENARIOS } from './scenarios.mjs';

const HELP = `Usage: npm run proof:supervisor -- [--quick] [--json] [--pm2] [--markdown FILE] [--keep]

  --quick          shorter scenarios (the form CI runs through npm test)
  --json           print the results as JSON instead of the table
  --pm2            also run the same service and load under PM2 (installed on demand with npm)
  --markdown FILE  write the table(s) between the proof:supervisor markers of FILE (docs/services.md)
  --scenario 1,5   run only these scenarios (numbered as in the table)
  --keep           keep the work directory (configs, Brisk's log)`;

async function runBrisk(s, dir, log, only) {
  const stack = new BriskStack(dir, s);
  await stack.start();
  log(`brisk: started (admin 127.0.0.1:${stack.ports.admin}); load ${s.baseRate} req/s open loop`);
  const load = new LoadGen(stack.url, s.baseRate, { timeoutMs: 5000 }).start();
  const rows = [];
  const ctx = {};
  let pids = [];
  try {
    for (const [i, scenario] of SCENARIOS.entries()) {
      if (only !== null && !only.has(i + 1)) continue;
      log(`brisk: scenario ${i + 1} (${scenario.name})…`);
      const r = await scenario(stack, load, s, ctx);
      log(`  ${r.pass ? 'PASS' : 'FAIL'}: ${r.observed}; ${r.clientErrors}/${r.requests} client errors`);
      rows.push(r);
    }
    pids = [...(await stack.service('products')).instances, ...((await stack.service('flaky'))?.instances ?? [])].map((i) => i.pid).filter((p) => p !== null);
  } finally {
    await load.stop();
    await stack.stop();
  }
  const left = pids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  rows.push({ id: 7, name: "Brisk's shutdown (SIGTERM)", expected: 'every instance stopped', pass: left.length === 0, observed: left.length === 0 ? `${pids.length} instance(s) stopped with Brisk` : `STILL RUNNING: ${left.join(', ')}`, clientErrors: 0, requests: 0 });
  for (const pid of left) process.kill(pid, 'SIGKILL');
  return { rows, loadLagMs: Math.round(load.maxLagMs) };
}

function table(rows, title) {
  const lines = [`### ${title}`, '', '| # | scenario | expected | result | client errors | p99 | restart / recovery | observed |', '|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const time = r.restartMs === undefined || r.restartMs === null ? (r.recoveryMs ? `${r.recoveryMs} ms` : '—') : `${r.restartMs} ms`;
    lines.push(`| ${r.id} | ${r.name} | ${r.expected} | ${r.pass ? 'pass' : '**FAIL**'} | ${r.clientErrors} / ${r.requests} | ${r.p99Ms === undefined || r.p99Ms === null ? '—' : `${r.p99Ms} ms`} | ${time} | ${r.observed} |`);
  }
  return lines.join('\n');
}

async function main() {
  const o = parseProofArgs(process.argv.slice(2), HELP, ['pm2']);
  const s = settings(o.quick);
  const base = path.join(ROOT, '.proofs');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(path.join(base, 'supervisor-'));
  const log = (m) => (o.json ? process.stderr : process.stdout).write(`${m}\n`);
  const started = Date.now();
  const result = { settings: s, machine: { cpus: os.cpus().length, node: process.version, platform: `${os.platform()} ${os.release()}` }, brisk: null, pm2: null };
  try {
    result.brisk = await runBrisk(s, path.join(dir), log, o.only);
    if (o.pm2) {
      const { runPm2 } = await import('./pm2.mjs');
      const pm2Dir = path.join(dir, 'pm2');
      mkdirSync(pm2Dir);
      result.pm2 = await runPm2(s, pm2Dir, base, log);
    }
  } finally {
    if (!o.keep && result.brisk?.rows.every((r) => r.pass)) rmSync(dir, { recursive: true, force: true });
    else log(`work directory kept: ${dir}`);
  }
  result.durationS = Math.round((Date.now() - started) / 1000);
  result.pass = result.brisk.rows.every((r) => r.pass);
  const text = [table(result.brisk.rows, `Brisk (${o.quick ? 'quick' : 'full'} run, ${s.baseRate} req/s open loop, ${s.min}..${s.max} instances)`)];
  if (result.pm2 !== null) text.push(table(result.pm2.rows, `PM2 ${result.pm2.version} (cluster mode, ${s.min} instances, same service and load)`));
  if (o.markdown !== null) writeMarkdown(o.markdown, text.join('\n\n'), result);
  if (o.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(`\n${text.join('\n\n')}\n\n${result.pass ? 'every bar met' : 'SOME BARS MISSED'} (${result.durationS} s)\n`);
  process.exitCode = result.pass ? 0 : 1;
}

function writeMarkdown(file, text, result) {
  writeMarkdownSection(readFileSync, writeFileSync, file, 'supervisor', `${text}\n\nMachine: ${result.machine.cpus} CPUs, Node ${result.machine.node}, ${result.machine.platform}; ${result.durationS} s.`);
}

main().catch((err) => {
  process.stderr.write(`proof:supervisor: ${err.stack ?? err}\n`);
  process.exitCode = 1;
});
