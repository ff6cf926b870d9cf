/**
 * The watched-file provider (`discovery.file`): a JSON or YAML list of targets that a
 * deploy script or config management rewrites. The directory is watched (an editor or
 * `mv` replaces the file, which a watch on the old inode would miss), changes are
 * debounced, and the file is read again every `interval` anyway (a missed event on a
 * network file system; each read also confirms the view for the staleness gauge).
 *
 * A file that cannot be read or parsed is a failure: the last good list keeps serving.
 * Write it atomically (temporary file, then rename): a list cut short in the middle of a
 * write can still be a valid, shorter list.
 */
import { readFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { parse } from '../../config/yaml.js';
import type { DiscoveredTarget, DiscoveryProvider, DiscoverySink, ProviderContext } from './config/contract.js';
import type { FileDiscoveryConfig } from './config/types.js';
import { entryTarget } from './entries.js';

const DEBOUNCE_MS = 100;

export function start(config: FileDiscoveryConfig, sink: DiscoverySink, context: ProviderContext): DiscoveryProvider {
  let stopped = false;
  let debounce: NodeJS.Timeout | null = null;
  let reading = false;
  let again = false;
  const read = async (): Promise<void> => {
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      const result = await readTargets(config.path, context.scheme);
      if (stopped) return;
      if ('failure' in result) sink.failed(result.failure);
      else sink.answer(result.targets);
    } finally {
      reading = false;
      if (again && !stopped) {
        again = false;
        void read();
      }
    }
  };
  let watcher: FSWatcher | null = null;
  const name = basename(config.path);
  try {
    watcher = watch(dirname(config.path), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed !== name) return;
      if (debounce !== null) clearTimeout(debounce);
      debounce = setTimeout(() => {
        debounce = null;
        void read();
      }, DEBOUNCE_MS);
    });
    watcher.on('error', () => {
      // The interval still reads the file.
    });
  } catch {
    // A directory that does not exist yet: the interval reads (and reports) until it does.
  }
  const timer = setInterval(() => void read(), config.intervalMs);
  timer.unref();
  void read();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      if (debounce !== null) clearTimeout(debounce);
      watcher?.close();
    },
  };
}

/** The targets a file lists, or why it could not be read. Invalid entries are reported by the feed. */
export async function readTargets(path: string, scheme: string): Promise<{ readonly targets: DiscoveredTarget[] } | { readonly failure: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { failure: code === 'ENOENT' ? `the targets file ${path} does not exist` : `cannot read the targets file ${path}: ${(err as Error).message}` };
  }
  let data: unknown;
  try {
    data = parse(text, { maxAliasCount: 100 });
  } catch (err) {
    return { failure: `the targets file ${path} is not valid JSON or YAML: ${(err as Error).message.split('\n')[0]}` };
  }
  const list = Array.isArray(data) ? data : data !== null && typeof data === 'object' && Array.isArray((data as { targets?: unknown }).targets) ? (data as { targets: unknown[] }).targets : null;
  if (list === null) return { failure: `the targets file ${path} holds ${data === null || data === undefined ? 'nothing' : 'no list'}: write a list of targets, or an object with a "targets" list` };
  const targets: DiscoveredTarget[] = [];
  for (const entry of list) {
    const t = entryTarget(entry, scheme);
    // An entry that is not a target at all goes through as an invalid URL: the feed logs it with the others.
    targets.push('invalid' in t ? { url: `(entry) ${t.invalid}` } : t);
  }
  return { targets };
}
