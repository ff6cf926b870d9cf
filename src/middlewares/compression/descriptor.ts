/**
 * The `compression` route key. Early in the pipeline (it only puts the compressor on the
 * request), so that whatever answers after it — the cache with a stored response, the
 * target — is compressed; refusals before it are small JSON errors.
 */
import { defineMiddleware } from '../descriptor.js';
import { CompressionSchema, normalizeCompression } from './schema.js';

export const compressionDescriptor = defineMiddleware({
  key: 'compression',
  schema: CompressionSchema,
  order: 150,
  normalize: (raw) => normalizeCompression(raw),
  load: () => import('./index.js'),
  create: (m, config) => m.createCompression(config),
});
