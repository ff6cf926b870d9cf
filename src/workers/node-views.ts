import type { CacheStats } from '../middlewares/cache/middleware.js';

/**
 * Views of the node made of every process's: what the admin API and `/metrics` show with
 * workers, where each process holds its own part.
 */

/**
 * Route cache counters summed over the workers, route by route: each worker caches in its
 * own memory, so the node's hits, misses, entries and bytes are the sums. Redis is one
 * store for all: `down` when any worker cannot reach it, `up` when one uses it, else `off`.
 */
export function sumCacheStats(workers: readonly Readonly<Record<string, CacheStats>>[]): Record<string, CacheStats> {
  const out: Record<string, CacheStats> = {};
  for (const routes of workers) {
    for (const [route, c] of Object.entries(routes)) {
      const t = out[route];
      if (t === undefined) {
        out[route] = { ...c };
        continue;
      }
      t.hits += c.hits;
      t.misses += c.misses;
      t.stale += c.stale;
      t.revalidated += c.revalidated;
      t.expired += c.expired;
      t.bypass += c.bypass;
      t.stored += c.stored;
      t.collapsed += c.collapsed;
      t.memoryBytes += c.memoryBytes;
      t.memoryEntries += c.memoryEntries;
      t.redis = t.redis === 'down' || c.redis === 'down' ? 'down' : t.redis === 'up' || c.redis === 'up' ? 'up' : 'off';
    }
  }
  return out;
}

interface Family {
  head: string[];
  samples: string[];
}

/**
 * The process families (`brisk_process_*`, `brisk_nodejs_*`: prom-client's default metrics)
 * of several processes as one exposition: each family once, its samples from every process
 * labelled `worker` (`primary`, or the worker's slot). Labelled rather than summed: they
 * describe one process each (its CPU, heap, event-loop lag, open handles, GC); a sum over
 * the label gives the node's CPU and memory, a max its worst lag, and a worker's counters
 * restart with a replacement as any process's do.
 */
export function labelProcessFamilies(texts: readonly (readonly [label: string, text: string])[]): string {
  const families = new Map<string, Family>();
  for (const [label, text] of texts) {
    const tag = `worker="${label}"`;
    let current: Family | null = null;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const head = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (head !== null) {
        const name = head[2]!;
        let f = families.get(name);
        if (f === undefined) {
          f = { head: [], samples: [] };
          families.set(name, f);
        }
        // The first process's HELP and TYPE stand for all.
        if (f.head.length < 2 && !f.head.some((h) => h.startsWith(`# ${head[1]!} `))) f.head.push(line);
        current = f;
        continue;
      }
      if (line.startsWith('#') || current === null) continue;
      current.samples.push(withLabel(line, tag));
    }
  }
  let out = '';
  for (const f of families.values()) out += `${f.head.join('\n')}\n${f.samples.join('\n')}${f.samples.length > 0 ? '\n' : ''}`;
  return out;
}

/** `name{a="x"} 1` → `name{worker="…",a="x"} 1`; `name 1` → `name{worker="…"} 1`. */
function withLabel(sample: string, tag: string): string {
  const space = sample.indexOf(' ');
  const brace = sample.indexOf('{');
  if (brace !== -1 && (space === -1 || brace < space)) {
    const empty = sample[brace + 1] === '}';
    return `${sample.slice(0, brace + 1)}${tag}${empty ? '' : ','}${sample.slice(brace + 1)}`;
  }
  if (space === -1) return sample;
  return `${sample.slice(0, space)}{${tag}}${sample.slice(space)}`;
}
