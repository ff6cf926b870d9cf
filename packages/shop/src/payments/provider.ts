/**
 * The payment-provider simulator: what a card processor does to a checkout, made
 * configurable so a test or a game day can inject faults at run time.
 *
 * Its settings live in the payments database (one row), so every payments instance
 * follows one change made through any of them (`PUT /internal/payments/provider`); each
 * instance reads them at most every 250 ms, from any host (a replica within its lag bound:
 * a change reaches every instance within about a second), and keeps the last ones read
 * while no host answers.
 */
import type { Database } from '@brisk/service';
import { ShopError } from '../common/errors.js';

export interface ProviderSettings {
  /** Added to every call, plus up to `jitterMs`. */
  latencyMs: number;
  jitterMs: number;
  /** Share of charges declined (a definite no: the order is cancelled). */
  declineRate: number;
  /** Share of calls that fail before doing anything (503: retried with the same key). */
  errorRate: number;
  /**
   * Share of calls that do the work and then never answer (within `timeoutMs`): the
   * worst case for a client, which cannot know whether the card was charged.
   */
  timeoutRate: number;
  timeoutMs: number;
}

export const DEFAULT_SETTINGS: ProviderSettings = { latencyMs: 20, jitterMs: 20, declineRate: 0, errorRate: 0, timeoutRate: 0, timeoutMs: 10_000 };

const RATES = ['declineRate', 'errorRate', 'timeoutRate'] as const;
const TIMES = ['latencyMs', 'jitterMs', 'timeoutMs'] as const;

/** Checks a partial change; unknown keys and out-of-range values are `SHOP_BAD_INPUT`. */
export function parseSettings(value: unknown, base: ProviderSettings): ProviderSettings {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ShopError('SHOP_BAD_INPUT', 'the provider settings must be a JSON object');
  const next: ProviderSettings = { ...base };
  for (const [key, v] of Object.entries(value)) {
    if ((RATES as readonly string[]).includes(key)) {
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new ShopError('SHOP_BAD_INPUT', `${key} must be a number from 0 to 1`);
      next[key as (typeof RATES)[number]] = v;
    } else if ((TIMES as readonly string[]).includes(key)) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 600_000) throw new ShopError('SHOP_BAD_INPUT', `${key} must be whole milliseconds from 0 to 600000`);
      next[key as (typeof TIMES)[number]] = v;
    } else throw new ShopError('SHOP_BAD_INPUT', `unknown provider setting "${key}" (known: ${[...RATES, ...TIMES].join(', ')})`);
  }
  return next;
}

export class ProviderConfig {
  #cached: { at: number; settings: ProviderSettings } | undefined;

  constructor(private readonly db: Database) {}

  async init(): Promise<void> {
    await this.db.migrate('create table if not exists provider_settings (id int primary key check (id = 1), settings jsonb not null)');
    await this.db.write('insert into provider_settings (id, settings) values (1, $1::jsonb) on conflict (id) do nothing', [JSON.stringify(DEFAULT_SETTINGS)], { idempotent: true });
  }

  async get(): Promise<ProviderSettings> {
    if (this.#cached !== undefined && Date.now() - this.#cached.at < 250) return this.#cached.settings;
    // Any host will do (a replica during a failover); with none, the last settings read.
    const read = await this.db.read<{ settings: ProviderSettings }>('select settings from provider_settings where id = 1').catch((error: unknown) => {
      if (this.#cached === undefined) throw error;
      return undefined;
    });
    if (read === undefined) return this.#cached!.settings;
    const settings = { ...DEFAULT_SETTINGS, ...(read.rows[0]?.settings ?? {}) };
    this.#cached = { at: Date.now(), settings };
    return settings;
  }

  async set(change: unknown): Promise<ProviderSettings> {
    const next = parseSettings(change, await this.get());
    await this.db.write('update provider_settings set settings = $1::jsonb where id = 1', [JSON.stringify(next)], { idempotent: true });
    this.#cached = { at: Date.now(), settings: next };
    return next;
  }
}
