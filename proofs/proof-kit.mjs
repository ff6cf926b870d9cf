// What the proofs share: their command line and writing their table into a doc.

/**
 * Parses the proofs' common options (--quick, --json, --keep, --markdown FILE,
 * --scenario 1,4) and the boolean `flags` a proof adds; prints `help` and exits on --help,
 * exits 2 on an unknown option.
 */
export function parseProofArgs(argv, help, flags = []) {
  const o = { quick: false, json: false, markdown: null, keep: false, only: null };
  for (const f of flags) o[f] = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const flag = a.startsWith('--') ? a.slice(2) : null;
    if (flag !== null && ['quick', 'json', 'keep', ...flags].includes(flag)) o[flag] = true;
    else if (a === '--markdown') o.markdown = argv[++i];
    else if (a === '--scenario') o.only = new Set(argv[++i].split(',').map(Number));
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${help}\n`);
      process.exit(0);
    } else {
      process.stderr.write(`unknown option ${a}\n${help}\n`);
      process.exit(2);
    }
  }
  return o;
}

/** Puts `text` between the `<!-- proof:NAME:begin/end -->` markers of `file` (appended when absent). */
export function writeMarkdownSection(readFileSync, writeFileSync, file, name, text) {
  const begin = `<!-- proof:${name}:begin -->`;
  const end = `<!-- proof:${name}:end -->`;
  const body = `${begin}\n${text}\n${end}`;
  let doc = readFileSync(file, 'utf8');
  const a = doc.indexOf(begin);
  const b = doc.indexOf(end);
  doc = a !== -1 && b > a ? doc.slice(0, a) + body + doc.slice(b + end.length) : `${doc}\n${body}\n`;
  writeFileSync(file, doc);
}

/**
 * Whether a process still exists (signal 0 only checks; a process we may not signal counts as gone).
 * @param {number} pid
 * @returns {boolean}
 */
export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
