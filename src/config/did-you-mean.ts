/**
 * "Did you mean …?" suggestions for mistyped keys and names. Hand-written because it is
 * twenty lines and no dependency is worth pulling in for it.
 */

/**
 * Edit distance between two strings counting insertions, deletions, substitutions and
 * swaps of two neighbouring characters (optimal string alignment, a restricted
 * Damerau–Levenshtein): "prodcts" → "products" is 1, "timeuot" → "timeout" is 1.
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  // Three rolling rows: the swap rule looks two rows back.
  let prev2: number[] = new Array<number>(b.length + 1).fill(0);
  let prev: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  let cur: number[] = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (prev2[j - 2] as number) + 1);
      cur[j] = d;
    }
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[b.length] as number;
}

/**
 * The candidate closest to `input`, when it is close enough to be a plausible typo:
 * at most one edit for short words, about one edit per three characters for longer
 * ones, or one word a prefix of the other (three characters at least). Case is ignored when measuring, so `Timeouts` suggests `timeouts`. Ties go to
 * the alphabetically first candidate so that messages are stable.
 *
 * @example
 * closestMatch('timeout', ['timeouts', 'targets']) // 'timeouts'
 * closestMatch('zzz', ['timeouts'])                // undefined
 */
export function closestMatch(input: string, candidates: Iterable<string>): string | undefined {
  const needle = input.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    if (candidate === input) continue;
    const lower = candidate.toLowerCase();
    // A word cut short or run on ("warning" for "warn", "time" for "timeouts") is a typo too.
    const prefix = Math.min(needle.length, lower.length) >= 3 && (needle.startsWith(lower) || lower.startsWith(needle));
    const d = prefix ? 1 : editDistance(needle, lower);
    const allowed = Math.max(1, Math.floor(Math.max(needle.length, candidate.length) / 3));
    if (d > allowed) continue;
    if (d < bestDistance || (d === bestDistance && best !== undefined && candidate < best)) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * `; did you mean "x"?` when a close candidate exists, '' otherwise: ready to append
 * to a message.
 */
export function didYouMean(input: string, candidates: Iterable<string>): string {
  const match = closestMatch(input, candidates);
  return match === undefined ? '' : `; did you mean ${JSON.stringify(match)}?`;
}
