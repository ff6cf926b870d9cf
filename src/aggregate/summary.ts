import type { AggregateConfig } from './schema.js';

/**
 * The admin API's view of an aggregate route (`/api/routes`): its parts in file order,
 * each with its upstream, request, what it waits for and where its result goes.
 */
export function aggregateSummary(config: AggregateConfig): Record<string, unknown> {
  const byName = new Map(config.parts.map((p) => [p.name, p]));
  return {
    maxFanOut: config.maxFanOut,
    parts: config.order.map((name) => {
      const p = byName.get(name)!;
      return {
        name,
        upstream: p.upstream,
        request: `${p.method} ${p.path}`,
        forEach: p.forEach,
        dependsOn: p.dependsOn,
        required: p.required,
        timeoutMs: p.timeoutMs,
        maxBodySize: p.maxBodySize,
        placement: p.hidden ? 'hidden' : p.merge ? 'merged into the top level' : p.into !== undefined ? `nested at ${p.into}` : `under "${name}"`,
      };
    }),
  };
}
