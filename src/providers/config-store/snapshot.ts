/**
 * The last document of the config store this node applied, on disk with its revision:
 * read at start when etcd does not answer. Written atomically, so a crash mid-write
 * leaves the previous snapshot whole.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-file.js';
import type { StoreDocument } from './document.js';

export const STORE_SNAPSHOT_FORMAT = 'brisk-config-store-snapshot/1';

interface SnapshotFile {
  readonly format: typeof STORE_SNAPSHOT_FORMAT;
  readonly key: string;
  readonly revision: number;
  readonly savedAt: string;
  readonly text: string;
}

/** Writes the snapshot; rejects on I/O errors (the caller logs them, serving goes on). */
export async function writeStoreSnapshot(file: string, doc: { key: string; revision: number; text: string }): Promise<void> {
  const body: SnapshotFile = { format: STORE_SNAPSHOT_FORMAT, key: doc.key, revision: doc.revision, savedAt: new Date().toISOString(), text: doc.text };
  await writeFileAtomic(file, `${JSON.stringify(body, null, 1)}\n`);
}

/** The snapshot of `key`; null when there is none; `{ ignored }` when the file is not one (or of another key). */
export async function readStoreSnapshot(file: string, key: string): Promise<(StoreDocument & { savedAt: string }) | { ignored: string } | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return { ignored: `cannot read it: ${(err as Error).message}` };
  }
  let s: Partial<SnapshotFile>;
  try {
    s = JSON.parse(text) as Partial<SnapshotFile>;
  } catch {
    return { ignored: 'it is not JSON' };
  }
  if (s === null || typeof s !== 'object' || s.format !== STORE_SNAPSHOT_FORMAT || typeof s.text !== 'string' || typeof s.revision !== 'number') return { ignored: `it is not a ${STORE_SNAPSHOT_FORMAT} file` };
  if (s.key !== key) return { ignored: `it holds key ${JSON.stringify(s.key)}, not ${JSON.stringify(key)}` };
  return { text: s.text, revision: s.revision, from: 'snapshot', savedAt: String(s.savedAt) };
}
