/** `discovery.kubernetes`: the descriptor of the Kubernetes EndpointSlice provider. */
import { isAbsolute, resolve } from 'node:path';
import { Type } from '../../../config/type-builder.js';
import { Duration, PatternString, Strict } from '../../../config/schema-kit.js';
import { defineProvider } from './descriptor.js';
import type { KubernetesDiscoveryConfig } from './types.js';

const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';
const IN_CLUSTER_CA = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt';

export const kubernetesProvider = defineProvider({
  key: 'kubernetes',
  schema: Strict(
    {
      apiServer: Type.Optional(
        PatternString('^https?://', 'must start with https:// (or http:// for a local proxy)', { description: 'The API server; default: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT` (in a pod).' }),
      ),
      namespace: Type.String({ minLength: 1, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', description: 'The namespace of the Service.' }),
      service: Type.String({ minLength: 1, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', description: 'The Service whose EndpointSlices list the targets (label `kubernetes.io/service-name`).' }),
      port: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Integer({ minimum: 1, maximum: 65535 })], { description: "The port by name (the Service port's name) or number; default: the slice's first port." })),
      tokenFile: Type.Optional(Type.String({ minLength: 1, description: `Bearer token file, re-read on every connection (tokens rotate); default: \`${IN_CLUSTER_TOKEN}\` when it exists.` })),
      caFile: Type.Optional(Type.String({ minLength: 1, description: `CA bundle of the API server; default: \`${IN_CLUSTER_CA}\` when it exists, else the system's CAs.` })),
      timeout: Type.Optional(Duration('How long the list request may take.', '10s')),
      interval: Type.Optional(Duration('The watch is renewed with a fresh list at least this often: it confirms the view (staleness) even when nothing changes. Changes arrive at once through the watch.', '60s')),
    },
    'Kubernetes: the ready endpoints of a Service’s EndpointSlices (`discovery.k8s.io/v1`), listed then watched over the API with a bearer token. The service account needs `list` and `watch` on `endpointslices` in the namespace.',
  ),
  normalize(check, at, raw): KubernetesDiscoveryConfig {
    const file = (p: string | undefined, fallback: string): string | null => (p === undefined ? fallback : isAbsolute(p) ? p : resolve(check.baseDir, p));
    const envServer = process.env['KUBERNETES_SERVICE_HOST'] === undefined ? null : `https://${process.env['KUBERNETES_SERVICE_HOST']}:${process.env['KUBERNETES_SERVICE_PORT'] ?? '443'}`;
    const apiServer = raw.apiServer ?? envServer;
    if (apiServer === null) check.problem([...at, 'apiServer'], 'set discovery.kubernetes.apiServer (outside a pod there is no KUBERNETES_SERVICE_HOST to default to)', 'key');
    return {
      kind: 'kubernetes',
      apiServer: (apiServer ?? '').replace(/\/+$/, ''),
      namespace: raw.namespace,
      service: raw.service,
      port: raw.port ?? null,
      tokenFile: file(raw.tokenFile, IN_CLUSTER_TOKEN),
      caFile: file(raw.caFile, IN_CLUSTER_CA),
      timeoutMs: check.duration([...at, 'timeout'], raw.timeout, 10_000),
      intervalMs: Math.max(1000, check.duration([...at, 'interval'], raw.interval, 60_000)),
    };
  },
  identity: (c) => `kubernetes ${c.namespace}/${c.service}${c.port === null ? '' : `:${c.port}`}`,
  load: () => import('../kubernetes.js'),
});
