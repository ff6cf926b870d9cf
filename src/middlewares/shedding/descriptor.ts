/**
 * The `concurrency` route key. Last in the pipeline, so that only requests about to be
 * forwarded hold a slot (a cache hit, or a request waiting for a collapsed miss, takes
 * none). The route's `priority` and the gateway's `overload.priorityHeader` shape the
 * queue, so they are part of its reuse key.
 */
import { defineMiddleware } from '../descriptor.js';
import { ConcurrencySchema, normalizeConcurrency } from './schema.js';

export const concurrencyDescriptor = defineMiddleware({
  key: 'concurrency',
  schema: ConcurrencySchema,
  order: 600,
  // A default concurrency limit is each route's own queue, shaped by the route's priority.
  defaultScope: 'route',
  normalize: (raw) => normalizeConcurrency(raw),
  reuseKey: (config, { route, deps }) => ({ config, priority: route.priority, priorityHeader: deps.priorityHeader ?? null }),
  load: () => import('./concurrency.js'),
  create: (m, config, { route, deps }) => {
    const onQueueWait = deps.onQueueWait;
    return m.createConcurrencyMiddleware(config, {
      route: route.name,
      priority: route.priority,
      priorityHeader: deps.priorityHeader ?? null,
      ...(onQueueWait === undefined ? {} : { onQueueWait }),
    });
  },
});
