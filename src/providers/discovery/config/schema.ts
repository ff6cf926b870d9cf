/**
 * The schema of an upstream's `discovery` block: one provider key (from the registry)
 * and the guards every provider shares. Normalised in normalize.ts next to it.
 */
import { Type, type Static, type TSchema } from '../../../config/type-builder.js';
import { Duration, Strict } from '../../../config/schema-kit.js';
import { PROVIDERS } from './registry.js';

const providerKeys: Record<string, TSchema> = {};
for (const p of PROVIDERS) providerKeys[p.key] = Type.Optional(p.schema);

export const DiscoverySchema = Strict(
  {
    ...providerKeys,
    minTargets: Type.Optional(
      Type.Integer({
        minimum: 0,
        default: 1,
        description:
          'An answer with fewer targets than this is refused, and the targets of the last good answer keep serving (logged as `BRISK_DISCOVERY_ANSWER_REFUSED`). The default 1 means an empty answer never empties the upstream; `0` applies every answer, an empty one too.',
      }),
    ),
    scheme: Type.Optional(
      Type.Union([Type.Literal('http'), Type.Literal('https'), Type.Literal('h2c')], { default: 'http', description: 'Scheme of the targets a provider finds as host and port (DNS, Kubernetes, registry entries without a URL).' }),
    ),
    weight: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 1, description: 'Weight of a discovered target that comes without one (SRV records and registry entries may carry theirs).' })),
    snapshot: Type.Optional(
      Type.Union([Type.Boolean(), Type.String({ minLength: 1 })], {
        default: true,
        description:
          'Keep the last good answer on disk (`true`: `.brisk/discovery/UPSTREAM.json` next to the config file; or a file path; `false`: none), written atomically on every change, so that a restart while the registry is down serves the last known targets.',
      }),
    ),
    startWait: Type.Optional(Duration("How long a start waits for the provider's first answer before the listeners open (it goes on with the snapshot, or without targets, after that; a failure does not end the wait, the provider retries meanwhile).", '3s')),
  },
  'Service discovery: the targets come from a provider (a watched file, DNS, a Redis registry, etcd, Kubernetes) and change while Brisk runs, beside those listed under `targets`. Exactly one provider key. See docs/discovery.md.',
);

export type RawDiscovery = Static<typeof DiscoverySchema>;
