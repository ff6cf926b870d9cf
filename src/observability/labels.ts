/** Label strings of the Prometheus text format, escaped once and reused for every scrape. */

/** A label value escaped for the text format (backslash, double quote, newline). */
export function esc(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : value;
}

/** `name="value",…` from name/value pairs, values escaped. */
export function labelString(...pairs: string[]): string {
  let out = '';
  for (let i = 0; i < pairs.length; i += 2) out += `${i === 0 ? '' : ','}${pairs[i]}="${esc(pairs[i + 1]!)}"`;
  return out;
}
