/**
 * V8's code cache for the config validator compiled at build time. Parsing its 1.5 MB of
 * source and compiling the checks a config reaches was the largest single item of a
 * start after the module loading (40–60 ms of about 450). V8 can serialise what it
 * compiled (`vm.Script#createCachedData`) and take it back on the next start: the first
 * start after a build writes `validator.generated.cjs.v8cache` once it has validated a
 * config (so the checks it reached are in it), later starts load it.
 *
 * V8 accepts a cache for any source of the same length, so the file starts with a line
 * naming what it was made from (the validator's fingerprint and length); another line, a
 * rejected cache (another Node, other V8 flags) or none means the source is compiled as
 * before and the cache written anew. A cache that cannot be written (a read-only install)
 * only costs the time it would have saved.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Script } from 'node:vm';

const FINGERPRINT = /module\.exports\.fingerprint = "([0-9a-f]{64})";\s*$/;

/** The validator's CommonJS wrapper, compiled with the code cache when there is a valid one. */
export interface CachedValidatorScript {
  /** Runs the module body: `(exports, require, module, __filename, __dirname)`. */
  readonly run: (...args: unknown[]) => void;
  /** Writes the cache (call after a first validation); null when the loaded one was used. */
  readonly store: (() => void) | null;
}

/** Compiles the validator's source at `path` as CommonJS, with its code cache when one fits. */
export function compileValidatorScript(path: string, source: string): CachedValidatorScript {
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const fingerprint = FINGERPRINT.exec(source.slice(-200))?.[1];
  if (fingerprint === undefined) return { run: new Script(wrapped, { filename: path }).runInThisContext() as CachedValidatorScript['run'], store: null };
  const file = `${path}.v8cache`;
  const header = Buffer.from(`brisk validator code cache 1 ${fingerprint} ${wrapped.length}\n`, 'latin1');
  let cached: Buffer | undefined;
  try {
    const data = readFileSync(file);
    if (data.length > header.length && data.subarray(0, header.length).equals(header)) cached = data.subarray(header.length);
  } catch {
    // none yet
  }
  const script = new Script(wrapped, cached === undefined ? { filename: path } : { filename: path, cachedData: cached });
  const run = script.runInThisContext() as CachedValidatorScript['run'];
  if (cached !== undefined && script.cachedDataRejected !== true) return { run, store: null };
  return {
    run,
    store: () => {
      const tmp = `${file}.${process.pid}.tmp`;
      try {
        writeFileSync(tmp, Buffer.concat([header, script.createCachedData()]));
        renameSync(tmp, file);
      } catch {
        rmSync(tmp, { force: true });
      }
    },
  };
}
