/**
 * The contract between the discovery manager and its providers (the watched file, DNS,
 * the Redis registry, etcd, Kubernetes): a provider reads its registry and tells the sink
 * each complete answer, or that it could not get one. It never touches a target set: the
 * manager guards, snapshots and applies answers, so every provider gets the same
 * last-known-good, staleness and empty-answer rules.
 *
 * In the config model (layer 1) because the descriptors' `load()` returns it; the
 * implementations sit beside this folder and are imported only by `load()`.
 */
import type { Logger } from 'pino';

/** One instance a provider found: a target URL (`http://10.0.0.7:8080`) and an optional weight. */
export interface DiscoveredTarget {
  readonly url: string;
  readonly weight?: number;
}

/** Where a provider reports. Both calls are cheap and may come from any callback. */
export interface DiscoverySink {
  /**
   * A complete answer: the instances the registry names right now (in any order;
   * duplicates are merged). An answer the upstream's guard refuses (too few targets) is
   * reported by the manager, not here.
   */
  answer(targets: readonly DiscoveredTarget[]): void;
  /** No answer could be had (registry down, timeout, a bad document): the last view stays. */
  failed(reason: string): void;
}

/** A running provider for one upstream. */
export interface DiscoveryProvider {
  /** Stops timers, watches and connections. No sink call after it resolves. */
  stop(): Promise<void>;
}

/** What a provider factory gets besides its config. */
export interface ProviderContext {
  readonly upstream: string;
  readonly logger: Logger;
  /** The scheme of targets that come as host and port (`http`, `https`, `h2c`). */
  readonly scheme: string;
}

/** A provider's implementation module, reached through its descriptor's `load()`. */
export interface ProviderModule<C> {
  /** Starts the provider: it reports its first answer (or failure) as soon as it has one. */
  start(config: C, sink: DiscoverySink, context: ProviderContext): DiscoveryProvider;
}
