/**
 * "Did you mean …?" suggestions for mistyped keys and names. Hand-written because it is
 * a few dozen lines and no dependency is worth pulling in for it.
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
 * The candidate closest to `input`, when it is close enough to be a plausible typo.
 *
 * Which candidates qualify: at most one edit for short words, about one edit per three
 * characters for longer ones (the distance normalised by length), or one word a prefix of
 * the other (three characters at least: "warning" for `warn`, "time" for `timeouts`).
 *
 * Which one wins: the fewest edits, then the longest shared beginning (people mistype the
 * middle and end of a word more than its start), then the alphabetically first so that
 * messages are stable. Qualifying by prefix never makes a candidate closer than its edits:
 * `pathPrefx` is one edit from `pathPrefix` and five from `path`, even though `path` is
 * its prefix. Case is ignored when measuring, so `Timeouts` suggests `timeouts`.
 *
 * @example
 * closestMatch('timeout', ['timeouts', 'targets']) // 'timeouts'
 * closestMatch('pathPrefx', ['path', 'pathPrefix']) // 'pathPrefix'
 * closestMatch('zzz', ['timeouts'])                // undefined
 */
export function closestMatch(input: string, candidates: Iterable<string>): string | undefined {
  const needle = input.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  let bestShared = -1;
  for (const candidate of candidates) {
    if (candidate === input) continue;
    const lower = candidate.toLowerCase();
    const d = editDistance(needle, lower);
    const allowed = Math.max(1, Math.floor(Math.max(needle.length, lower.length) / 3));
    const prefix = Math.min(needle.length, lower.length) >= 3 && (needle.startsWith(lower) || lower.startsWith(needle));
    if (d > allowed && !prefix) continue;
    const shared = sharedPrefixLength(needle, lower);
    if (d < bestDistance || (d === bestDistance && (shared > bestShared || (shared === bestShared && best !== undefined && candidate < best)))) {
      best = candidate;
      bestDistance = d;
      bestShared = shared;
    }
  }
  return best;
}

function sharedPrefixLength(a: string, b: string): number {
  let n = 0;
  while (n < a.length && n < b.length && a.charCodeAt(n) === b.charCodeAt(n)) n++;
  return n;
}

/**
 * `; did you mean "x"?` when a close candidate exists, '' otherwise: ready to append
 * to a message.
 */
export function didYouMean(input: string, candidates: Iterable<string>): string {
  const match = closestMatch(input, candidates);
  return match === undefined ? '' : `; did you mean ${JSON.stringify(match)}?`;
}
