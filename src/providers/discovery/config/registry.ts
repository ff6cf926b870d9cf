/**
 * The discovery providers, in reference order. The `discovery` schema, its normaliser
 * and the manager iterate this list; none of them names a provider.
 */
import type { ProviderDescriptor } from './descriptor.js';
import { dnsProvider } from './dns.js';
import { etcdProvider } from './etcd.js';
import { fileProvider } from './file.js';
import { kubernetesProvider } from './kubernetes.js';
import { redisProvider } from './redis.js';

export const PROVIDERS: readonly ProviderDescriptor[] = [fileProvider, dnsProvider, redisProvider, etcdProvider, kubernetesProvider] as unknown as readonly ProviderDescriptor[];

/** The descriptor of a provider kind. */
export function providerOf(kind: string): ProviderDescriptor | undefined {
  return PROVIDERS.find((p) => p.key === kind);
}
