/**
 * The normalised `discovery` block of an upstream (`upstreams.NAME.discovery`): one
 * provider and the guards every provider shares. Made by normalize.ts next to it.
 */
import type { RedisEndpoint } from '../../../config/redis-schema.js';

/** `discovery.file`: a JSON or YAML list of targets, watched. */
export interface FileDiscoveryConfig {
  readonly kind: 'file';
  /** Absolute path. */
  readonly path: string;
  /** Re-read at least this often, in case a change event was missed (network file systems). */
  readonly intervalMs: number;
}

/** `discovery.dns`: A/AAAA or SRV records, re-resolved on their TTL. */
export interface DnsDiscoveryConfig {
  readonly kind: 'dns';
  readonly name: string;
  readonly type: 'A' | 'AAAA' | 'A+AAAA' | 'SRV';
  /** The targets' port for A/AAAA records (SRV records carry their own); null for SRV. */
  readonly port: number | null;
  /** Resolvers (`ip` or `ip:port`); empty: the system's. */
  readonly servers: readonly string[];
  /** The TTL is clamped into [minTtl, maxTtl] before the next resolution. */
  readonly minTtlMs: number;
  readonly maxTtlMs: number;
  readonly timeoutMs: number;
}

/** `discovery.redis`: the Redis registry of packages/service/docs/contract.md. */
export interface RedisDiscoveryConfig {
  readonly kind: 'redis';
  /** The registry's Redis: one server or the primary Sentinel names. */
  readonly endpoint: RedisEndpoint;
  readonly service: string;
  /** Key prefix; the keys are `PREFIX SERVICE:INSTANCE`. */
  readonly prefix: string;
  /** The pub/sub channel instances announce on. */
  readonly channel: string;
  /** Full scan at least this often (catches expired entries without keyspace notifications). */
  readonly intervalMs: number;
}

/** `discovery.etcd`: keys under a prefix, each an instance kept alive by its lease. */
export interface EtcdDiscoveryConfig {
  readonly kind: 'etcd';
  /** Base URLs of the etcd members' client endpoints (`http://127.0.0.1:2379`). */
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly timeoutMs: number;
  /** Full read at least this often (the watch brings changes at once). */
  readonly intervalMs: number;
}

/** `discovery.kubernetes`: the EndpointSlices of a Service, listed and watched. */
export interface KubernetesDiscoveryConfig {
  readonly kind: 'kubernetes';
  /** The API server's base URL. */
  readonly apiServer: string;
  readonly namespace: string;
  readonly service: string;
  /** The port by name or number; null: the slice's only (or first) port. */
  readonly port: string | number | null;
  /** Bearer token file (absolute); used when it exists (the in-cluster default may not). */
  readonly tokenFile: string | null;
  /** CA bundle of the API server (absolute); used when it exists, else the system CAs. */
  readonly caFile: string | null;
  readonly timeoutMs: number;
  /** The watch is renewed with a fresh list at least this often. */
  readonly intervalMs: number;
}

export type ProviderConfig = FileDiscoveryConfig | DnsDiscoveryConfig | RedisDiscoveryConfig | EtcdDiscoveryConfig | KubernetesDiscoveryConfig;
export type ProviderKind = ProviderConfig['kind'];

export interface DiscoveryConfig {
  readonly provider: ProviderConfig;
  /**
   * An answer with fewer targets is refused and the last view kept (0: any answer is
   * applied, an empty one too). Default 1: an empty answer never empties the upstream.
   */
  readonly minTargets: number;
  /** Scheme of targets that come as host and port. */
  readonly scheme: 'http' | 'https' | 'h2c';
  /** Weight of a discovered target that names none. */
  readonly weight: number;
  /** Absolute path of the last-known-good snapshot; null: none is kept. */
  readonly snapshotFile: string | null;
  /** How long a start waits for the provider's first answer (it carries on from the snapshot after it). */
  readonly startWaitMs: number;
}
