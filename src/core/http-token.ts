/**
 * RFC 9110's `tchar` (§5.6.2): the bytes of a token, such as a field name or a method. One
 * table for every reader and writer of HTTP/1.1 heads (the lean server's request reader,
 * the lean upstream transport's response reader, the lean server's field checks), so they
 * agree on what a token is.
 */

/** `TCHAR[byte] === 1` for a token byte, 0 otherwise (256 entries: index it with a byte or a Latin-1 char code). */
export const TCHAR: Uint8Array = (() => {
  const table = new Uint8Array(256);
  for (const c of "!#$%&'*+-.^_`|~") table[c.charCodeAt(0)] = 1;
  for (let c = 0x30; c <= 0x39; c++) table[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) table[c] = table[c + 0x20] = 1;
  return table;
})();

/** True when `text` is a non-empty token (a valid field name). */
export function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff || TCHAR[c] !== 1) return false;
  }
  return true;
}
