/**
 * `npm run proof:toolkit`: the service toolkit's proof against real PostgreSQL (a primary
 * and a synchronous streaming replica on loopback) and real Redis. Prints the table; with
 * `--json`, the measured figures as JSON; `--short` runs the shorter form CI runs (the
 * same bars, shorter phases). Exit code 1 when a bar is missed.
 */
import { postgresInstalled, POSTGRES_NOT_INSTALLED } from '../src/local/postgres.js';
import { redisServerPath, REDIS_NOT_INSTALLED } from '../src/local/redis.js';
import { runProof, table } from './proof.js';

const asJson = process.argv.includes('--json');
const short = process.argv.includes('--short');
const missing = [postgresInstalled() ? undefined : POSTGRES_NOT_INSTALLED, redisServerPath() === undefined ? REDIS_NOT_INSTALLED : undefined].filter((m) => m !== undefined);
if (missing.length > 0) {
  process.stderr.write(`proof:toolkit needs real servers: ${missing.join('; ')}\n`);
  process.exit(1);
}
const started = Date.now();
const results = await runProof(short, (line) => process.stderr.write(`[proof] ${line}\n`));
const seconds = Math.round((Date.now() - started) / 1000);
if (asJson) process.stdout.write(`${JSON.stringify({ short, seconds, pass: results.every((r) => r.pass), results }, null, 2)}\n`);
else process.stdout.write(`\n${table(results)}\n\n${results.every((r) => r.pass) ? 'every bar met' : 'BARS MISSED'} (${short ? 'short form, ' : ''}${seconds} s)\n`);
process.exit(results.every((r) => r.pass) ? 0 : 1);
