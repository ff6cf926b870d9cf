/** The `auth` route key. After the cheap refusals, before rate limits (which may key on the identity). */
import { defineMiddleware } from '../descriptor.js';
import { AuthSchema } from './schema.js';
import { normalizeAuth } from './normalize.js';

export const authDescriptor = defineMiddleware({
  key: 'auth',
  schema: AuthSchema,
  order: 300,
  normalize: (raw, { baseDir }) => normalizeAuth(raw, baseDir),
  load: () => import('./index.js'),
  create: (m, config, { deps }) => m.createAuth(config, deps),
});
