#!/usr/bin/env node
// The multinode proof (issue 17): three Brisk nodes on loopback behind a client that
// spreads load over them, with Redis + Sentinel (shared rate limits), etcd (routes and
// upstreams, pushed with `brisk config push`) and service instances that register in a
// Redis registry. One fault after the other — a node killed, etcd down, instances
// joining and leaving, the Redis primary failing over — each judged against its bar.
// Prints the table (or `--json`); exits 1 when a bar is missed. See docs/deployment.md.
//
//   npm run proof:multinode [-- --quick] [-- --json] [-- --markdown FILE] [-- --keep]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseProofArgs, writeMarkdownSection } from '../proof-kit.mjs';
import { SCENARIOS } from './scenarios.mjs';
import { ROOT, Stack } from './stack.mjs';

const HELP = `Usage: npm run proof:multinode -- [--quick] [--json] [--markdown FILE] [--keep] [--scenario 1,4]

  --quick          shorter scenarios, etcd down 8 s instead of 30 s (the form CI runs)
  --json           print the results as JSON instead of the table
  --markdown FILE  write the table between the proof:multinode markers of FILE (docs/deployment.md)
  --scenario 1,4   run only these scenarios
  --keep           keep the work directory (configs, each node's log)`;

function settings(quick) {
  return quick
    ? { rate: 90, killRunS: 4, etcdOutageS: 8, instances: 3, registryTtlMs: 6000, limitPerS: 50, limitBurst: 10, windowMs: 3000, settleMs: 3000 }
    : { rate: 150, killRunS: 8, etcdOutageS: 30, instances: 3, registryTtlMs: 6000, limitPerS: 50, limitBurst: 10, windowMs: 5000, settleMs: 3000 };
}

function table(rows, title) {
  const lines = [`### ${title}`, '', '| # | scenario | bar | result | client errors | failed over | observed |', '|---|---|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.id} | ${r.name} | ${r.expected} | ${r.pass ? 'pass' : '**FAIL**'} | ${r.errors} / ${r.requests} | ${r.failedOver} | ${r.observed} |`);
  return lines.join('\n');
}

async function main() {
  const o = parseProofArgs(process.argv.slice(2), HELP);
  const s = settings(o.quick);
  const base = path.join(ROOT, '.proofs');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(path.join(base, 'multinode-'));
  const log = (m) => (o.json ? process.stderr : process.stdout).write(`${m}\n`);
  const started = Date.now();
  const stack = new Stack(dir, s);
  const rows = [];
  try {
    await stack.start(log);
    for (const [i, scenario] of SCENARIOS.entries()) {
      if (o.only !== null && !o.only.has(i + 1)) continue;
      log(`scenario ${i + 1} (${scenario.name})…`);
      try {
        const r = await scenario(stack, s, log);
        log(`  ${r.pass ? 'PASS' : 'FAIL'}: ${r.observed}`);
        rows.push(r);
      } catch (err) {
        log(`  FAIL: ${err.message}`);
        rows.push({ id: i + 1, name: scenario.name, expected: '', pass: false, observed: `did not finish: ${err.message}`, requests: 0, errors: 0, failedOver: 0 });
      }
    }
  } finally {
    await stack.stop();
  }
  const result = { settings: s, machine: { cpus: os.cpus().length, node: process.version, platform: `${os.platform()} ${os.release()}` }, rows, durationS: Math.round((Date.now() - started) / 1000) };
  result.pass = rows.length > 0 && rows.every((r) => r.pass);
  if (!o.keep && result.pass) rmSync(dir, { recursive: true, force: true });
  else log(`work directory kept: ${dir}`);
  const text = table(rows, `Three Brisk nodes (${o.quick ? 'quick' : 'full'} run: ${s.rate} req/s spread over the nodes, etcd down ${s.etcdOutageS} s, limit ${s.limitPerS}/s shared through Redis Sentinel)`);
  if (o.markdown !== null) {
    writeMarkdownSection(readFileSync, writeFileSync, o.markdown, 'multinode', `${text}\n\nMachine: ${result.machine.cpus} CPUs, Node ${result.machine.node}, ${result.machine.platform}; ${result.durationS} s.`);
  }
  if (o.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(`\n${text}\n\n${result.pass ? 'every bar met' : 'SOME BARS MISSED'} (${result.durationS} s)\n`);
  process.exitCode = result.pass ? 0 : 1;
}

main().catch((err) => {
  process.stderr.write(`proof:multinode: ${err.stack ?? err}\n`);
  process.exitCode = 1;
});
