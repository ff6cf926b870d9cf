/** Runs a proof script (`proofs/NAME/run.mjs --quick --json`) and returns its JSON, its progress lines and exit code. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

export async function runProofJson<T>(script: string, args: readonly string[] = ['--quick', '--json']): Promise<{ result: T; progress: string; code: number | null }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    return { result: JSON.parse(out) as T, progress: err, code };
  } catch {
    return assert.fail(`the proof printed no JSON (exit ${code}):\n${err}\n${out}`);
  }
}
