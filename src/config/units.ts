/**
 * Durations and sizes as people write them ("500ms", "2s", "16kb") turned into the
 * milliseconds and bytes the runtime uses. The accepted forms are the ones the schema's
 * patterns allow; the loader only calls these after the schema has validated.
 */

/** The duration pattern of the schema; the loader recognises duration unions by it. */
export const DURATION_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h)?\\s*$';

/** The size pattern of the schema; the loader recognises size unions by it. */
export const SIZE_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*(b|kb|mb|gb|k|m|g|kib|mib|gib)?\\s*$';

/**
 * The longest duration a Node.js timer can wait. A longer `setTimeout` fires at once
 * (with only a process warning), which would turn a generous timeout into an instant
 * one, so the loader rejects durations past it.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const DURATION_UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

const SIZE_UNIT_BYTES: Readonly<Record<string, number>> = {
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

const AMOUNT = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/;

/**
 * Milliseconds in a duration: a number is already milliseconds, a string may carry a
 * unit (`ms`, `s`, `m`, `h`; none means milliseconds). Rounded to whole milliseconds.
 * Returns `undefined` for anything the schema would not accept.
 *
 * @example
 * durationMs('1.5s') // 1500
 * durationMs(250)    // 250
 */
export function durationMs(value: string | number): number | undefined {
  const n = amount(value, DURATION_UNIT_MS, 'ms');
  // Rounded, not floored, so that "0.5ms" does not silently become 0 (which means "no limit").
  return n === undefined ? undefined : Math.round(n);
}

/**
 * Bytes in a size: a number is already bytes, a string may carry a unit (`b`, `kb`,
 * `mb`, `gb` and their `k`/`kib` spellings; all binary, 1kb = 1024 bytes). Rounded down
 * to whole bytes. Returns `undefined` for anything the schema would not accept.
 *
 * @example
 * sizeBytes('16kb') // 16384
 */
export function sizeBytes(value: string | number): number | undefined {
  const n = amount(value, SIZE_UNIT_BYTES, 'b');
  return n === undefined ? undefined : Math.floor(n);
}

function amount(value: string | number, units: Readonly<Record<string, number>>, defaultUnit: string): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const m = AMOUNT.exec(value);
  if (m === null) return undefined;
  const factor = units[m[2] === '' ? defaultUnit : (m[2] as string)];
  if (factor === undefined) return undefined;
  const result = Number(m[1]) * factor;
  return Number.isFinite(result) ? result : undefined;
}
