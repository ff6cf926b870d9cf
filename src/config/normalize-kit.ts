/**
 * What every section normaliser shares (the gateway's own sections here, upstreams in
 * src/upstreams/config/, routes in src/router/config/, each middleware in its folder):
 * one place that collects problems and warnings with their paths, and reads durations
 * and sizes the same way under every key. One check of a file makes one `ConfigCheck`
 * and passes it down, so that every problem of the file is reported in one run.
 */
import { hostPatternProblem } from './addresses.js';
import type { PathProblem, PathSegment } from './positions.js';
import { MAX_DURATION_MS, durationMs, sizeBytes } from './units.js';

/** What a normaliser returns: the config when there are no problems. Paths are relative to the key it normalised. */
export interface Normalized<T> {
  readonly config?: T;
  readonly problems: PathProblem[];
  readonly warnings: PathProblem[];
}

/** Where the configuration came from: for `Config.source` and for resolving relative paths (TLS files, key files). */
export interface NormaliseContext {
  /** Absolute path of the file, '' when the text did not come from a file. */
  readonly source: string;
  /** Directory relative paths in the file are resolved against. */
  readonly baseDir: string;
}

/**
 * One check of one configuration: where it came from, every problem and warning found
 * so far (with absolute paths: `['routes', 1, 'upstream']`), and the unit readers.
 * Runs only on a configuration that passed the schema, so raw types can be trusted.
 */
export class ConfigCheck {
  readonly problems: PathProblem[] = [];
  readonly warnings: PathProblem[] = [];

  constructor(readonly context: NormaliseContext) {}

  /** Directory relative paths in the file are resolved against. */
  get baseDir(): string {
    return this.context.baseDir;
  }

  /** Records a problem at `path` (absolute); `at: 'key'` places it on the key rather than its value. */
  problem(path: readonly PathSegment[], message: string, at: 'key' | 'value' = 'value'): void {
    this.problems.push({ path, message, at });
  }

  /** Records a warning: reported, but the configuration still loads. */
  warn(path: readonly PathSegment[], message: string, at: 'key' | 'value' = 'value'): void {
    this.warnings.push({ path, message, at });
  }

  /** Takes a fragment normaliser's result (a middleware's, say), its paths made absolute by prefixing `at`. */
  adopt<T>(at: readonly PathSegment[], result: { readonly config?: T; readonly problems: readonly PathProblem[]; readonly warnings: readonly PathProblem[] }): T | undefined {
    for (const p of result.problems) this.problems.push({ ...p, path: [...at, ...p.path] });
    for (const w of result.warnings) this.warnings.push({ ...w, path: [...at, ...w.path] });
    return result.config;
  }

  /** A duration in milliseconds; `fallback` when absent (or, with a problem, when too long). */
  duration(path: readonly PathSegment[], value: string | number | undefined, fallback: number): number {
    if (value === undefined) return fallback;
    const result = durationMs(value);
    if (result === undefined || result > MAX_DURATION_MS) {
      this.problem(path, `duration ${JSON.stringify(value)} is too long; the longest is 24 days ("576h")`);
      return fallback;
    }
    return result;
  }

  /** A size in bytes; `fallback` when absent (or, with a problem, when too large). */
  size(path: readonly PathSegment[], value: string | number | undefined, fallback: number): number {
    if (value === undefined) return fallback;
    const result = sizeBytes(value);
    if (result === undefined || result > Number.MAX_SAFE_INTEGER) {
      this.problem(path, `size ${JSON.stringify(value)} is too large`);
      return fallback;
    }
    return result;
  }

  /** A host name or `*.domain` pattern (route hosts, TLS server names), trimmed and lower-cased. */
  hostPattern(path: readonly PathSegment[], pattern: string): string {
    const reason = hostPatternProblem(pattern.trim());
    if (reason !== undefined) this.problem(path, `invalid host pattern ${reason}`);
    return pattern.trim().toLowerCase();
  }
}

/** The items in their first order, each once. */
export function dedupe<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

/**
 * Sets an own property even for names like `__proto__`, which plain assignment would
 * treat as the prototype: names in a configuration file are user input.
 */
export function putOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Freezes an object graph so that no part of the runtime can change a configuration in use. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
