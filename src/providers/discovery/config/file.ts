/** `discovery.file`: the descriptor of the watched-file provider. */
import { isAbsolute, resolve } from 'node:path';
import { Type } from '../../../config/type-builder.js';
import { Duration, Strict } from '../../../config/schema-kit.js';
import { defineProvider } from './descriptor.js';
import type { FileDiscoveryConfig } from './types.js';

export const fileProvider = defineProvider({
  key: 'file',
  schema: Strict(
    {
      path: Type.String({ minLength: 1, description: 'The file (relative paths: from the config file). JSON or YAML: a list of targets, each a URL string or `{url, weight}`, or an object with such a list under `targets`.' }),
      interval: Type.Optional(Duration('Read the file again at least this often, in case a change event was missed (network file systems).', '5s')),
    },
    'A watched file that lists the targets: a deploy script or a config-management tool rewrites it, and Brisk follows within a moment (a rename over the file is seen too).',
  ),
  normalize(check, at, raw): FileDiscoveryConfig {
    const intervalMs = check.duration([...at, 'interval'], raw.interval, 5000);
    if (intervalMs < 100) check.problem([...at, 'interval'], 'an interval under 100ms would read the file in a loop');
    return { kind: 'file', path: isAbsolute(raw.path) ? raw.path : resolve(check.baseDir, raw.path), intervalMs };
  },
  identity: (c) => `file ${c.path}`,
  load: () => import('../file.js'),
});
