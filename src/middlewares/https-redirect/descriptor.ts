/** The `httpsRedirect` route key. First in the pipeline: a plain-HTTP request is answered before anything is counted or checked. */
import { defineMiddleware } from '../descriptor.js';
import { HttpsRedirectSchema, normalizeHttpsRedirect } from './schema.js';

export const httpsRedirectDescriptor = defineMiddleware({
  key: 'httpsRedirect',
  schema: HttpsRedirectSchema,
  order: 50,
  normalize: (raw) => normalizeHttpsRedirect(raw),
  load: () => import('./index.js'),
  create: (m, config) => m.createHttpsRedirect(config),
});
