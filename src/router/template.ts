/**
 * Templates with placeholders, parsed once into alternating literals and names so that
 * rendering is a few concatenations.
 */

const NAME_CHAR = /[A-Za-z0-9_]/;

/** `literals.length === names.length + 1`; the text is literals[0] names[0] literals[1] ... */
export interface Template {
  readonly literals: readonly string[];
  readonly names: readonly string[];
}

/**
 * Parses a path template. Placeholders: `${name}` anywhere; `:name` at the start of a
 * segment only, so `/v1/items:batchGet` keeps its colon; a whole `*` segment (or `${*}`)
 * for the rest captured by a trailing `*`.
 */
export function parsePathTemplate(text: string): Template {
  const literals: string[] = [];
  const names: string[] = [];
  let lit = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const atSegmentStart = i > 0 && text[i - 1] === '/';
    if (c === '$' && text[i + 1] === '{') {
      const close = text.indexOf('}', i + 2);
      if (close !== -1) {
        literals.push(lit);
        names.push(text.slice(i + 2, close));
        lit = '';
        i = close + 1;
        continue;
      }
    } else if (c === ':' && atSegmentStart && i + 1 < text.length && NAME_CHAR.test(text[i + 1]!)) {
      let end = i + 1;
      while (end < text.length && NAME_CHAR.test(text[end]!)) end++;
      literals.push(lit);
      names.push(text.slice(i + 1, end));
      lit = '';
      i = end;
      continue;
    } else if (c === '*' && atSegmentStart && (i + 1 === text.length || text[i + 1] === '/')) {
      literals.push(lit);
      names.push('*');
      lit = '';
      i++;
      continue;
    }
    lit += c;
    i++;
  }
  literals.push(lit);
  return { literals, names };
}

/** Parses a header value template: `${name}` placeholders only (values often hold colons). */
export function parseValueTemplate(text: string): Template {
  const literals: string[] = [];
  const names: string[] = [];
  let from = 0;
  for (;;) {
    const open = text.indexOf('${', from);
    const close = open === -1 ? -1 : text.indexOf('}', open + 2);
    if (close === -1) break;
    literals.push(text.slice(from, open));
    names.push(text.slice(open + 2, close));
    from = close + 1;
  }
  literals.push(text.slice(from));
  return { literals, names };
}
