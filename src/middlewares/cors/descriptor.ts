/** The `cors` route key. Before `auth`: preflights carry no credentials and are answered here. */
import { defineMiddleware } from '../descriptor.js';
import { CorsSchema, normalizeCors } from './schema.js';

export const corsDescriptor = defineMiddleware({
  key: 'cors',
  schema: CorsSchema,
  order: 200,
  normalize: (raw, { baseDir }) => normalizeCors(raw, baseDir),
  load: () => import('./index.js'),
  create: (m, config, { deps }) => m.createCors(config, deps),
});
