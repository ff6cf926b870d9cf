/**
 * Sharding: rows routed by a shard key across several databases (each one a cluster with
 * its own primary and replicas). A key hashes (FNV-1a, 32 bits) to one of a fixed number
 * of slots (default 1024); a slot map assigns slots to shards. Slots, not shards, are
 * what move: adding a shard moves some slots to it, and only the rows of those slots
 * move. Every sharded table stores its row's slot in a column (`shard_slot` by
 * convention), so a slot's rows are found with an index, whatever the key. See
 * docs/postgres.md, "Sharding" and "Adding a shard".
 */
import type pg from 'pg';
import { ServiceError } from '../errors.js';
import type { Database, ReadOptions, Row, Tx, WriteOptions, WriteResult } from './database.js';

/** Slot ranges, inclusive: `[[0, 511, 'a'], [512, 1023, 'b']]`. */
export type SlotMap = readonly (readonly [from: number, to: number, shard: string])[];

export interface ShardedOptions {
  shards: Record<string, Database>;
  map: SlotMap;
  /** Number of slots (default 1024); fixed for the life of the data. */
  slots?: number;
}

/** FNV-1a over the key's UTF-8 bytes: fast, stable across processes and versions. */
export function fnv1a(key: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** An even split of `slots` slots over `shards` names, in order. */
export function evenSlotMap(shards: readonly string[], slots = 1024): SlotMap {
  const size = Math.ceil(slots / shards.length);
  return shards.map((name, i) => [i * size, Math.min(slots, (i + 1) * size) - 1, name] as const).filter(([from, to]) => from <= to);
}

export class ShardedDatabase {
  readonly slots: number;
  readonly shards: Readonly<Record<string, Database>>;
  #owner: string[];
  readonly #frozen = new Set<number>();

  constructor(options: ShardedOptions) {
    this.slots = options.slots ?? 1024;
    this.shards = { ...options.shards };
    this.#owner = this.#check(options.map);
  }

  #check(map: SlotMap): string[] {
    const owner = new Array<string | undefined>(this.slots).fill(undefined);
    for (const [from, to, shard] of map) {
      if (this.shards[shard] === undefined) throw new ServiceError('BRISK_SVC_DB_CONFIG_INVALID', `slot map names shard "${shard}", which is not among the shards (${Object.keys(this.shards).join(', ')})`);
      if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to >= this.slots || from > to) throw new ServiceError('BRISK_SVC_DB_CONFIG_INVALID', `slot range ${from}-${to} of shard "${shard}" is not within 0-${this.slots - 1}`);
      for (let s = from; s <= to; s++) {
        if (owner[s] !== undefined) throw new ServiceError('BRISK_SVC_DB_CONFIG_INVALID', `slot ${s} is given to both "${owner[s]}" and "${shard}"`);
        owner[s] = shard;
      }
    }
    const missing = owner.findIndex((o) => o === undefined);
    if (missing >= 0) throw new ServiceError('BRISK_SVC_DB_CONFIG_INVALID', `slot ${missing} belongs to no shard: the slot map must cover 0-${this.slots - 1}`);
    return owner as string[];
  }

  /** The slot of a shard key: store it in the row's `shard_slot` column. */
  slotOf(key: string): number {
    return fnv1a(key) % this.slots;
  }

  shardOf(key: string): string {
    return this.#owner[this.slotOf(key)]!;
  }

  /** The database holding `key`'s rows. */
  forKey(key: string): Database {
    return this.shards[this.shardOf(key)]!;
  }

  /** Replaces the slot map (all instances must switch together: see "Adding a shard"). */
  setMap(map: SlotMap): void {
    this.#owner = this.#check(map);
  }

  /** Slots of a shard under the current map. */
  slotsOf(shard: string): number[] {
    return this.#owner.flatMap((o, slot) => (o === shard ? [slot] : []));
  }

  read<R extends Row = Row>(key: string, sql: string, params?: readonly unknown[], options?: ReadOptions): Promise<pg.QueryResult<R>> {
    return this.forKey(key).read<R>(sql, params, options);
  }

  write<R extends Row = Row>(key: string, sql: string, params?: readonly unknown[], options?: WriteOptions): Promise<WriteResult<R>> {
    this.#assertWritable(key);
    return this.forKey(key).write<R>(sql, params, options);
  }

  transaction<T>(key: string, fn: (tx: Tx) => Promise<T>, options?: WriteOptions) {
    this.#assertWritable(key);
    return this.forKey(key).transaction(fn, options);
  }

  #assertWritable(key: string): void {
    const slot = this.slotOf(key);
    if (this.#frozen.has(slot)) throw new ServiceError('BRISK_SVC_SHARD_MOVING', `slot ${slot} (key "${key}") is moving to another shard; retry in a moment`);
  }

  /** Refuses writes to a slot (while it moves). */
  freeze(slot: number): void {
    this.#frozen.add(slot);
  }

  thaw(slot: number): void {
    this.#frozen.delete(slot);
  }

  /**
   * Moves one slot's rows to another shard, in this process: freeze the slot, copy its
   * rows of every table (the target's copy is replaced whole, so repeating a move that
   * stopped half way is safe), switch the map, thaw, delete the rows from the old shard.
   * With several instances, freezing and switching go through their configuration
   * (docs/postgres.md); `copySlot` is the step they share.
   */
  async moveSlot(slot: number, to: string, tables: readonly string[], slotColumn = 'shard_slot'): Promise<{ rows: number }> {
    const from = this.#owner[slot];
    if (from === undefined || this.shards[to] === undefined) throw new ServiceError('BRISK_SVC_DB_CONFIG_INVALID', `cannot move slot ${slot} to "${to}": unknown slot or shard`);
    if (from === to) return { rows: 0 };
    this.freeze(slot);
    try {
      let rows = 0;
      for (const table of tables) rows += await copySlot(this.shards[from]!, this.shards[to]!, table, slot, slotColumn);
      const owner = [...this.#owner];
      owner[slot] = to;
      this.#owner = owner;
      for (const table of tables) await this.shards[from]!.write(`delete from ${identifier(table)} where ${identifier(slotColumn)} = $1`, [slot], { idempotent: true });
      return { rows };
    } finally {
      this.thaw(slot);
    }
  }
}

function identifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/.test(name)) throw new ServiceError('BRISK_SVC_DB_CONFIG_INVALID', `"${name}" is not a lowercase table or column name`);
  return name;
}

/**
 * Copies every row of `table` in `slot` from one shard to another: the target's rows of
 * that slot are deleted and the source's inserted, in one transaction on the target
 * (jsonb_populate_recordset maps the rows onto the target's table of the same shape).
 * Run it while the slot is frozen for an exact copy; before that, as a warm-up.
 */
export async function copySlot(source: Database, target: Database, table: string, slot: number, slotColumn = 'shard_slot'): Promise<number> {
  const t = identifier(table);
  const c = identifier(slotColumn);
  const { rows } = await source.read<{ rows: unknown }>(`select coalesce(jsonb_agg(to_jsonb(x)), '[]'::jsonb) as rows from ${t} x where ${c} = $1`, [slot], { primary: true });
  const data = JSON.stringify(rows[0]?.rows ?? []);
  const { value } = await target.transaction(
    async (tx) => {
      await tx.query(`delete from ${t} where ${c} = $1`, [slot]);
      const inserted = await tx.query(`insert into ${t} select * from jsonb_populate_recordset(null::${t}, $1::jsonb)`, [data]);
      return inserted.rowCount ?? 0;
    },
    { idempotent: true },
  );
  return value;
}
