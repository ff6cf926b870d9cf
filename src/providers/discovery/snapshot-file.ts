/**
 * The last-known-good view of an upstream's discovery, on disk: written atomically (a
 * temporary file, fsync, rename, fsync of the directory) so a crash mid-write leaves the
 * previous snapshot whole, and read at start so a node restarted while its registry is
 * down serves the targets it last knew (APISIX could not start without etcd:
 * apache/apisix#3878, #5115).
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-file.js';

export const SNAPSHOT_FORMAT = 'brisk-discovery-snapshot/1';

/** What a snapshot file holds. */
export interface DiscoverySnapshotFile {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly upstream: string;
  readonly provider: string;
  /** The registry it was read from (the descriptor's `identity`): a snapshot of another is not restored. */
  readonly identity: string;
  /** When the registry last confirmed this view (ISO 8601). */
  readonly confirmedAt: string;
  readonly targets: readonly { readonly url: string; readonly weight: number }[];
}

/** Writes `snapshot` to `file` atomically. Rejects on I/O errors (the caller logs them; serving goes on). */
export async function writeSnapshot(file: string, snapshot: DiscoverySnapshotFile): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(snapshot, null, 1)}\n`);
}

/**
 * Reads a snapshot; null when there is none. A file that is not a snapshot, or one of
 * another upstream or registry, is `{ ignored: reason }`: the caller logs it and starts
 * without (never fails a start over a snapshot).
 */
export async function readSnapshot(file: string, upstream: string, identity: string): Promise<DiscoverySnapshotFile | { readonly ignored: string } | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return { ignored: `cannot read it: ${(err as Error).message}` };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { ignored: 'it is not JSON (a partial write from another program?)' };
  }
  const s = data as Partial<DiscoverySnapshotFile>;
  if (s === null || typeof s !== 'object' || s.format !== SNAPSHOT_FORMAT || !Array.isArray(s.targets) || typeof s.confirmedAt !== 'string') return { ignored: `it is not a ${SNAPSHOT_FORMAT} file` };
  if (s.upstream !== upstream) return { ignored: `it belongs to upstream ${JSON.stringify(s.upstream)}` };
  if (s.identity !== identity) return { ignored: `it was read from another registry (${s.identity}; now ${identity})` };
  if (!Number.isFinite(Date.parse(s.confirmedAt))) return { ignored: 'its confirmedAt is not a date' };
  const targets = s.targets.filter((t): t is { url: string; weight: number } => typeof t === 'object' && t !== null && typeof t.url === 'string' && typeof t.weight === 'number');
  return { ...(s as DiscoverySnapshotFile), targets };
}
