/**
 * `brisk check --config FILE`: validates a configuration without starting anything.
 * Exit code 0 when the file is valid (warnings are printed but do not fail it), 1 with
 * one line per problem otherwise, so that CI and editors can point at each one.
 */
import { formatProblem, loadConfig } from '../config/load.js';

/**
 * Checks `file` and reports on the given streams.
 *
 * @returns the exit code: 0 valid, 1 invalid.
 * @example
 * process.exitCode = await runCheck('brisk.yaml', process.stdout, process.stderr);
 * // brisk.yaml: OK (2 routes, 1 upstreams, 1 listeners)
 */
export async function runCheck(file: string, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const result = await loadConfig(file);
  if (!result.ok) {
    for (const problem of result.problems) err.write(`${formatProblem(problem)}\n`);
    return 1;
  }
  for (const warning of result.warnings) err.write(`${formatProblem({ ...warning, message: `warning: ${warning.message}` })}\n`);
  const { config } = result;
  const services = Object.keys(config.services ?? {}).length;
  out.write(`${file}: OK (${config.routes.length} routes, ${Object.keys(config.upstreams).length} upstreams, ${config.listen.length} listeners${services > 0 ? `, ${services} services` : ''})\n`);
  // The store's document replaces the file's routes and upstreams at run time: say where it is checked.
  if (config.configStore !== undefined) out.write(`configStore: routes, upstreams and defaults come from etcd ${config.configStore.etcd.key} when it holds a document; check one with \`brisk config push FILE --dry-run\`\n`);
  return 0;
}
