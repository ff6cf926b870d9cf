/**
 * Writes a file so that a reader sees the old content or the new, never a part: a
 * temporary file beside it, fsync, rename over, then fsync of the directory (best effort:
 * some file systems refuse it). For the snapshots that let a node start while its
 * registry or config store is down, and the alert delivery queue's notifications.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Writes `text` to `file` atomically (mode 0600); rejects on I/O errors. */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true });
  // A name of its own per write: two writes of one file in flight (a snapshot refreshed
  // twice in quick succession) must not share a temporary file.
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`);
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  const d = await open(dir, 'r').catch(() => null);
  if (d !== null) await d.sync().catch(() => {}).finally(() => void d.close());
}
