/** The whole proof: every scenario in the order, and its table. */
import { runCacheScenarios, FULL_CACHE, SHORT_CACHE } from './cache.js';
import type { ScenarioResult } from './common.js';
import { FULL, runPostgresScenarios, SHORT } from './failover.js';
import { runSagaScenario } from './saga.js';

export async function runProof(short: boolean, progress: (line: string) => void = () => {}): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  progress('PostgreSQL primary + replica: read-your-writes, then failover…');
  results.push(...(await runPostgresScenarios(short ? SHORT : FULL)));
  progress('cache: stampede, then Redis outage…');
  results.push(...(await runCacheScenarios(short ? SHORT_CACHE : FULL_CACHE)));
  progress('sagas: orchestrator killed at each step…');
  results.push(await runSagaScenario(100));
  // The order: failover, read-your-writes, stampede, Redis, sagas.
  return results;
}

export function table(results: readonly ScenarioResult[]): string {
  const lines = ['| scenario | bar | measured | result |', '|---|---|---|---|'];
  for (const r of results) lines.push(`| ${r.scenario} | ${r.bar} | ${r.measured} | ${r.pass ? 'PASS' : 'FAIL'} |`);
  return lines.join('\n');
}

