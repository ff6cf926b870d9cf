/** `discovery.etcd`: the descriptor of the etcd v3 provider. */
import { Type } from '../../../config/type-builder.js';
import { Duration, PatternString, Strict } from '../../../config/schema-kit.js';
import { defineProvider } from './descriptor.js';
import type { EtcdDiscoveryConfig } from './types.js';

export const etcdProvider = defineProvider({
  key: 'etcd',
  schema: Strict(
    {
      endpoints: Type.Array(PatternString('^https?://', 'must start with http:// or https://', { description: 'A client URL of an etcd member.' }), {
        minItems: 1,
        description: 'Client URLs of the etcd members (`http://10.0.0.2:2379`); the next is tried when one fails.',
      }),
      prefix: Type.String({ minLength: 1, description: 'The key prefix of the service: every key under it is one instance (`/services/shop/`), its value a target URL or `{"url", "weight"}`, written with a lease the instance keeps alive.' }),
      timeout: Type.Optional(Duration('How long a request to etcd may take before the next endpoint is tried.', '2s')),
      interval: Type.Optional(Duration('Read the whole prefix again at least this often: it confirms the view (staleness) and repairs anything a broken watch missed. Changes arrive at once through the watch.', '5s')),
    },
    'etcd v3: instances put a key under `prefix` with a lease and keep it alive; Brisk reads the prefix and watches it, so a key that is deleted or whose lease expires takes its target out.',
  ),
  normalize(check, at, raw): EtcdDiscoveryConfig {
    const intervalMs = check.duration([...at, 'interval'], raw.interval, 5000);
    if (intervalMs < 100) check.problem([...at, 'interval'], 'an interval under 100ms would read etcd in a loop');
    return { kind: 'etcd', endpoints: raw.endpoints.map((e) => e.replace(/\/+$/, '')), prefix: raw.prefix, timeoutMs: check.duration([...at, 'timeout'], raw.timeout, 2000), intervalMs };
  },
  identity: (c) => `etcd ${c.prefix}`,
  load: () => import('../etcd.js'),
});
