/**
 * Reading `/metrics` in tests: a small parser of the Prometheus text format (enough for
 * what Brisk exposes: no escaped quotes in label values beyond `\"`), and `promtool`.
 */
import { spawn } from 'node:child_process';
import { request } from 'undici';
import { findExecutable, isExecutable } from './executables.js';

export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export function parseMetrics(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    const name = brace === -1 || brace > space ? line.slice(0, line.indexOf(' ')) : line.slice(0, brace);
    const labels: Record<string, string> = {};
    if (brace !== -1 && brace < space) {
      const body = line.slice(brace + 1, line.lastIndexOf('}'));
      for (const m of body.matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
    }
    out.push({ name, labels, value: Number(line.slice(space + 1)) });
  }
  return out;
}

export async function scrape(adminUrl: string): Promise<{ text: string; samples: MetricSample[]; contentType: string }> {
  const res = await request(`${adminUrl}/metrics`);
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}: ${text}`);
  return { text, samples: parseMetrics(text), contentType: String(res.headers['content-type']) };
}

/** Sum of the samples named `name` whose labels include `match`. */
export function sum(samples: readonly MetricSample[], name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

export function findPromtool(): string | undefined {
  // `$BRISK_PROMTOOL`, when set, is the only candidate (npm test sets it to what it found).
  const fromEnv = process.env['BRISK_PROMTOOL'];
  if (fromEnv) return isExecutable(fromEnv) ? fromEnv : undefined;
  return findExecutable(null, ['promtool']);
}

const HOW = 'promtool is not installed: `npm test` installs it (Debian package `prometheus`) when run as root; otherwise: sudo apt-get install prometheus';

/**
 * The `skip` option of a test that needs promtool: false when it is there. When it is
 * missing and the run is root (CI, where `npm test` should have installed it) the test
 * must fail instead, so `promtoolOrFail` throws there.
 */
export const PROMTOOL_SKIP: string | false = findPromtool() !== undefined || mustHavePromtool() ? false : HOW;

function mustHavePromtool(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0 && process.env['BRISK_NO_INSTALL'] !== '1';
}

/** The promtool path; throws the reason when it is missing (only reached as root: see PROMTOOL_SKIP). */
export function promtoolOrFail(): string {
  const p = findPromtool();
  if (p === undefined) throw new Error(`${HOW} (running as root, so the test fails instead of skipping: scripts/test.mjs should have installed it; see its output)`);
  return p;
}

/** Runs promtool with `args`, `input` on stdin; resolves with its exit code and output. */
export function runPromtool(args: readonly string[], input = ''): Promise<{ code: number; output: string }> {
  const bin = promtoolOrFail();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
    child.stdin.end(input);
  });
}
