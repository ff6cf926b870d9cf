/**
 * Silences: set through the admin API, they mute notifications and actions of the
 * alerts whose labels they match, until they expire. Kept in `silences.json` in the
 * queue directory so that a restart does not un-mute a known problem.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { durationMs } from '../config/units.js';
import type { Logger } from '../observability/logger.js';
import { writeDurably } from './queue.js';
import { globToRegex } from './schema.js';

/** One label condition: the label's value matches the glob `value` (`*`: any run of characters). */
export interface SilenceMatcher {
  readonly name: string;
  readonly value: string;
}

export interface Silence {
  readonly id: string;
  readonly matchers: readonly SilenceMatcher[];
  /** Epoch ms. */
  readonly startsAt: number;
  readonly endsAt: number;
  readonly createdBy: string;
  readonly comment: string;
}

/** A refused silence: the admin API answers 400 with this message. */
export class SilenceInputError extends Error {}

const MAX_SILENCES = 1000;
const MAX_DURATION_MS = 366 * 24 * 3_600_000;

/**
 * Checks what the admin API received. Matchers name a label (`rule` and `severity`
 * match the alert's rule name and severity).
 *
 * @example
 * parseSilence({ matchers: [{ name: 'upstream', value: 'products' }], duration: '2h', comment: 'deploy' }, Date.now())
 */
export function parseSilence(input: unknown, now: number): Omit<Silence, 'id'> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new SilenceInputError('the body must be a JSON object: {"matchers":[{"name":"upstream","value":"products"}],"duration":"1h","comment":"…"}');
  const o = input as Record<string, unknown>;
  const matchers = o['matchers'];
  if (!Array.isArray(matchers) || matchers.length === 0 || matchers.length > 20) throw new SilenceInputError('matchers must be a list of 1 to 20 {"name","value"} objects');
  const parsed = matchers.map((m: unknown, i) => {
    const mm = m as Record<string, unknown> | null;
    const name = mm?.['name'];
    const value = mm?.['value'];
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new SilenceInputError(`matchers[${i}].name must be a label name (letters, digits, _)`);
    if (typeof value !== 'string' || value === '' || value.length > 1000) throw new SilenceInputError(`matchers[${i}].value must be a non-empty string (a glob: * matches anything)`);
    return { name, value };
  });
  const startsAt = o['startsAt'] === undefined ? now : Date.parse(String(o['startsAt']));
  if (!Number.isFinite(startsAt)) throw new SilenceInputError('startsAt must be an ISO 8601 time');
  let endsAt: number;
  if (o['endsAt'] !== undefined) {
    endsAt = Date.parse(String(o['endsAt']));
    if (!Number.isFinite(endsAt)) throw new SilenceInputError('endsAt must be an ISO 8601 time');
  } else {
    const d = o['duration'];
    const ms = typeof d === 'string' || typeof d === 'number' ? durationMs(d) : undefined;
    if (ms === undefined || ms <= 0) throw new SilenceInputError('give either endsAt (ISO 8601) or duration ("30m", "2h")');
    endsAt = startsAt + ms;
  }
  if (endsAt <= startsAt) throw new SilenceInputError('endsAt must be after startsAt');
  if (endsAt <= now) throw new SilenceInputError('the silence would already be over');
  if (endsAt - startsAt > MAX_DURATION_MS) throw new SilenceInputError('a silence lasts at most one year');
  const text = (k: string, max: number) => {
    const v = o[k];
    if (v === undefined) return '';
    if (typeof v !== 'string' || v.length > max) throw new SilenceInputError(`${k} must be a string of at most ${max} characters`);
    return v;
  };
  return { matchers: parsed, startsAt, endsAt, createdBy: text('createdBy', 200), comment: text('comment', 2000) };
}

/** The silences in force, persisted in `<dir>/silences.json` when a directory is given. */
export class Silences {
  private items: Silence[] = [];
  private compiled = new Map<string, ReadonlyArray<{ name: string; regex: RegExp }>>();
  private readonly file: string | null;

  constructor(
    dir: string | null,
    private readonly logger: Logger,
  ) {
    this.file = dir === null ? null : join(dir, 'silences.json');
    if (this.file !== null) {
      try {
        const loaded = JSON.parse(readFileSync(this.file, 'utf8')) as Silence[];
        if (Array.isArray(loaded)) for (const s of loaded) this.put(s);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ err: error, file: this.file }, 'cannot read the saved silences; starting without them');
      }
    }
  }

  /** Silences not yet expired. */
  list(now = Date.now()): readonly Silence[] {
    this.expire(now);
    return this.items;
  }

  add(input: unknown, now = Date.now()): Silence {
    this.expire(now);
    if (this.items.length >= MAX_SILENCES) throw new SilenceInputError(`too many silences (${MAX_SILENCES}); delete some first`);
    const silence: Silence = { id: randomUUID(), ...parseSilence(input, now) };
    this.put(silence);
    this.save();
    this.logger.info({ silence: silence.id, matchers: silence.matchers, endsAt: new Date(silence.endsAt).toISOString(), createdBy: silence.createdBy }, 'silence added');
    return silence;
  }

  remove(id: string): boolean {
    const before = this.items.length;
    this.items = this.items.filter((s) => s.id !== id);
    this.compiled.delete(id);
    if (this.items.length === before) return false;
    this.save();
    this.logger.info({ silence: id }, 'silence removed');
    return true;
  }

  /** The id of a silence in force that matches the labels, or null. */
  match(labels: Readonly<Record<string, string>>, now = Date.now()): string | null {
    for (const s of this.items) {
      if (s.startsAt > now || s.endsAt <= now) continue;
      const ms = this.compiled.get(s.id) ?? [];
      if (ms.every((m) => labels[m.name] !== undefined && m.regex.test(labels[m.name]!))) return s.id;
    }
    return null;
  }

  private put(s: Silence): void {
    this.items.push(s);
    this.compiled.set(
      s.id,
      s.matchers.map((m) => ({ name: m.name, regex: globToRegex(m.value) })),
    );
  }

  private expire(now: number): void {
    const before = this.items.length;
    this.items = this.items.filter((s) => s.endsAt > now);
    if (this.items.length !== before) {
      for (const id of [...this.compiled.keys()]) if (!this.items.some((s) => s.id === id)) this.compiled.delete(id);
      this.save();
    }
  }

  private save(): void {
    if (this.file === null) return;
    try {
      mkdirSync(join(this.file, '..'), { recursive: true });
      writeDurably(this.file, JSON.stringify(this.items));
    } catch (error) {
      this.logger.error({ err: error, file: this.file }, 'cannot save the silences; they hold until the gateway restarts');
    }
  }
}
