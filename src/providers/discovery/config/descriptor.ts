/**
 * One descriptor per discovery provider, as for route middlewares
 * (src/middlewares/descriptor.ts): its key under `discovery`, the schema of its block,
 * its normaliser, what identifies the registry it reads (a snapshot taken from another
 * registry is not restored), and `load()`, a dynamic import of the implementation, so a
 * configuration without discovery loads none of it and one with DNS loads only DNS.
 */
import type { Static, TSchema } from '../../../config/type-builder.js';
import type { ConfigCheck } from '../../../config/normalize-kit.js';
import type { PathSegment } from '../../../config/positions.js';
import type { ProviderModule } from './contract.js';
import type { ProviderConfig } from './types.js';

export interface ProviderDescriptor<S extends TSchema = TSchema, C extends ProviderConfig = ProviderConfig> {
  /** The key under `discovery` (`dns`); also the provider's label in metrics. */
  readonly key: C['kind'];
  readonly schema: S;
  /** Schema-valid block → normalised config; problems go to `check` under `at`. */
  normalize(check: ConfigCheck, at: readonly PathSegment[], raw: Static<S>): C;
  /** What names the registry read: a snapshot is restored only when this is unchanged. */
  identity(config: C): string;
  load(): Promise<ProviderModule<C>>;
}

/** Types a descriptor (the registry holds them as `ProviderDescriptor`). */
export function defineProvider<S extends TSchema, C extends ProviderConfig>(d: ProviderDescriptor<S, C>): ProviderDescriptor<S, C> {
  return d;
}
