/** The `ipFilter` route key: allow and deny lists of client addresses. First in the pipeline: the cheapest refusal. */
import { defineMiddleware } from '../descriptor.js';
import { IpFilterSchema, normalizeIpFilter } from './schema.js';

export const ipFilterDescriptor = defineMiddleware({
  key: 'ipFilter',
  schema: IpFilterSchema,
  order: 100,
  normalize: (raw, { baseDir }) => normalizeIpFilter(raw, baseDir),
  load: () => import('./index.js'),
  create: (m, config, { deps }) => m.createIpFilter(config, deps),
});
