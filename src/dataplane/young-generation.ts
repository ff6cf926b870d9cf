/**
 * A cap on V8's young generation, set by the gateway for its own process.
 *
 * Under sustained load V8 doubles the new space after scavenges until each of its two
 * semi-spaces reaches 16 MB (Node 20 on 64-bit): 32 MB of RSS that a proxy whose requests
 * live for a millisecond or two does not need, and most of what took the process from
 * ~70 MB idle to ~120 MB under the bench. The usual cure is `--max-semi-space-size`, which
 * must be given to node before it starts and which Brisk, started as
 * `node dist/src/cli/main.js`, cannot set for itself. What can be changed at run time is
 * the factor by which V8 grows the new space (`--semi-space-growth-factor`, read at each
 * growth): after every scavenge the size is looked at, and growth is turned off while the
 * new space is at the cap, on again when V8 has shrunk it (an idle process). A growth
 * doubles it at most once per scavenge, so the cap holds to that step.
 *
 * An operator's own choice wins: when node was started with `--max-semi-space-size` or
 * `--semi-space-growth-factor` (on the command line or in `NODE_OPTIONS`), nothing is set.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** The default cap of one semi-space: scavenges stay cheap (what survives is the requests in flight), RSS stays low. */
export const DEFAULT_SEMI_SPACE_MB = 8;

const MB = 1024 * 1024;
const V8_DEFAULT_GROWTH = 2;

let observer: PerformanceObserver | null = null;

/** Whether node was told how to size its young generation (then it is left alone). */
export function youngGenerationChosen(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env['NODE_OPTIONS'] ?? ''): boolean {
  const chosen = /--(max-semi-space-size|semi-space-growth-factor)\b/;
  return execArgv.some((a) => chosen.test(a)) || chosen.test(nodeOptions);
}

/**
 * Keeps each semi-space at `semiSpaceMb` at most, from now on, for the whole process
 * (once: later calls do nothing). Returns false when the operator's flags decide instead.
 */
export function capYoungGeneration(semiSpaceMb = DEFAULT_SEMI_SPACE_MB): boolean {
  if (observer !== null) return true;
  if (youngGenerationChosen()) return false;
  // getHeapSpaceStatistics' new_space counts both semi-spaces.
  const cap = 2 * semiSpaceMb * MB;
  let growing = true;
  const look = (): void => {
    const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    if (space === undefined) return;
    const grow = space.space_size < cap;
    if (grow === growing) return;
    growing = grow;
    setFlagsFromString(`--semi-space-growth-factor=${grow ? V8_DEFAULT_GROWTH : 1}`);
  };
  observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) return look();
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  look();
  return true;
}
