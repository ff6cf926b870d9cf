/**
 * HTTP-date (RFC 9110 §5.6.7) parsed strictly, as a cache must for `Expires` (RFC 9111
 * §5.3: anything but a valid HTTP-date means "already expired"). `Date.parse` is not
 * used: it accepts almost anything (`UTC`, other zones, ISO dates, missing commas,
 * doubled spaces, one-digit hours) and maps two-digit years into the 1900s.
 *
 * Two relaxations, both from RFC 9111 §4.2: names (day, month, `GMT`) are matched
 * case-insensitively ("a cache recipient SHOULD match the field value
 * case-insensitively"), and a leap second (`:60`) is read as `:59` (the nearest time
 * not later than the value). The day name is not checked against the date: the RFC does
 * not ask for it and a wrong one does not make the time ambiguous.
 */

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MONTH = '(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)';
const DAY = '(?:mon|tue|wed|thu|fri|sat|sun)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** `Sun, 06 Nov 1994 08:49:37 GMT` */
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} gmt$`, 'i');
/** `Sunday, 06-Nov-94 08:49:37 GMT` (obsolete) */
const RFC850 = new RegExp(`^(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} gmt$`, 'i');
/** `Sun Nov  6 08:49:37 1994` (obsolete) */
const ASCTIME = new RegExp(`^${DAY} ${MONTH} (\\d{2}| \\d) ${TIME} (\\d{4})$`, 'i');

/**
 * Parses an HTTP-date in any of its three formats; NaN when the value is not one.
 * `nowMs` places a two-digit (rfc850) year: see {@link resolveTwoDigitYear}.
 *
 * @example
 * parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT') // 784111777000
 * parseHttpDate('Sun, 06 Nov 1994 08:49:37 UTC') // NaN
 */
export function parseHttpDate(v: string | undefined, nowMs = Date.now()): number {
  if (v === undefined) return NaN;
  const s = v.trim();
  let m = IMF_FIXDATE.exec(s);
  if (m !== null) return utc(Number(m[3]), m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!);
  m = ASCTIME.exec(s);
  if (m !== null) return utc(Number(m[6]), m[1]!, Number(m[2]!.trim()), m[3]!, m[4]!, m[5]!);
  m = RFC850.exec(s);
  if (m === null) return NaN;
  const [, day, month, yy, hh, mm, ss] = m as unknown as [string, string, string, string, string, string, string];
  const at = (year: number) => utc(year, month, Number(day), hh, mm, ss);
  return at(resolveTwoDigitYear(Number(yy), at, nowMs));
}

/**
 * RFC 9110 §5.6.7: a two-digit year that "appears to be more than 50 years in the
 * future" is "the most recent year in the past that had the same last two digits". So
 * the year is the latest one ending in `yy` that is at most 50 years ahead of now: in
 * 2026, `50` is 2050 and `94` is 1994; in 2080, `20` is 2120.
 */
export function resolveTwoDigitYear(yy: number, at: (year: number) => number, nowMs: number): number {
  const now = new Date(nowMs);
  const limit = Date.UTC(now.getUTCFullYear() + 50, now.getUTCMonth(), now.getUTCDate(), now.getUTCHours(), now.getUTCMinutes(), now.getUTCSeconds());
  const century = now.getUTCFullYear() - (now.getUTCFullYear() % 100);
  let year = century + yy;
  if (at(year) > limit) year -= 100;
  else if (at(year + 100) <= limit) year += 100;
  return year;
}

function utc(year: number, month: string, day: number, hh: string, mm: string, ss: string): number {
  const mon = MONTHS.indexOf(month.toLowerCase());
  const hour = Number(hh);
  const minute = Number(mm);
  const second = Math.min(Number(ss), 59);
  if (day < 1 || hour > 23 || minute > 59 || Number(ss) > 60) return NaN;
  const d = new Date(0);
  d.setUTCFullYear(year, mon, day);
  d.setUTCHours(hour, minute, second, 0);
  // 31 Feb and the like roll over into the next month: not a date.
  if (d.getUTCDate() !== day || d.getUTCMonth() !== mon) return NaN;
  return d.getTime();
}
