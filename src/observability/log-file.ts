import { readdirSync, renameSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import pino from 'pino';

type SonicBoom = ReturnType<typeof pino.destination>;

/** When a log file is rotated. */
export interface RotationOptions {
  /** Bytes; 0: never by size. */
  readonly maxSize: number;
  /** Rotated files kept besides the current one: `FILE.1` (newest) … `FILE.N`. */
  readonly maxFiles: number;
  /** Also rotate at midnight UTC. */
  readonly daily: boolean;
}

/**
 * An append-only log file with rotation, written through sonic-boom (pino's asynchronous
 * buffered destination, the same fast path as stdout): `write` only appends to a buffer.
 *
 * Rotation first lets the buffer drain into the current file (an asynchronous flush: a
 * rotated file holds every line counted towards it, in order, and is never empty), then
 * renames `FILE.N-1` → `FILE.N` … `FILE` → `FILE.1` and reopens `FILE`. No line is lost:
 * a write in flight finishes on the old descriptor (now `FILE.1`), and what was buffered
 * meanwhile goes to the new file (sonic-boom's `reopen` waits for the write in flight).
 * The renames are synchronous — a handful of metadata syscalls once per `maxSize`
 * bytes — so that no line can be written between them and the reopen.
 * Written by hand: pino-roll and rotating-file-stream run in a worker or a stream
 * pipeline, and would give up the hand-built-line fast path of the access log.
 *
 * The size is counted in UTF-16 code units of the lines written, which equals bytes for
 * the ASCII access lines (a non-ASCII path is JSON-escaped to ASCII); an existing file
 * counts from its size on disk.
 */
export class RotatingFile {
  private readonly boom: SonicBoom;
  private size = 0;
  private nextMidnight = Infinity;
  private warned = false;
  /** The highest `FILE.N` that may exist: renames start there, not at `maxFiles`. */
  private highest = 0;
  /** A reopen is under way (the new file is opening): no rotation until it is ready. */
  private reopening = false;
  /** A rotation waits for the buffer to drain. */
  private rotating = false;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly rotation: RotationOptions,
    private readonly onError: (err: Error, what: string) => void = () => {},
  ) {
    // periodicFlush: a quiet gateway's lines reach the file within a second, not only once 4 KiB have gathered.
    // 32 KiB writes, as for stdout (see logger.ts): fewer syscalls per line.
    this.boom = pino.destination({ dest: path, sync: false, minLength: 32 * 1024, maxWrite: 64 * 1024, mkdir: true, append: true, periodicFlush: 1000 } as Parameters<typeof pino.destination>[0]);
    this.boom.on('error', (err: Error) => {
      this.reopening = false;
      this.warnOnce(err, 'writing the log file failed');
    });
    this.boom.on('ready', () => {
      this.reopening = false;
    });
    this.size = fileSize(path);
    this.highest = highestRotated(path, rotation.maxFiles);
    if (rotation.daily) this.nextMidnight = nextUtcMidnight(Date.now());
  }

  write(line: string): boolean {
    const ok = this.boom.write(line);
    this.size += line.length;
    const r = this.rotation;
    if ((r.maxSize > 0 && this.size >= r.maxSize) || (this.nextMidnight !== Infinity && Date.now() >= this.nextMidnight)) this.rotate();
    return ok;
  }

  /** Shifts the rotated files by one and starts a new current file. */
  rotate(): void {
    // Lines written while the new file opens go into it; rotating again before it exists
    // would leave a gap in the numbering. The next write after it opened rotates if due.
    if (this.reopening || this.rotating || this.closed) return;
    if (this.rotation.daily) this.nextMidnight = nextUtcMidnight(Date.now());
    this.rotating = true;
    try {
      this.boom.flush((err?: Error | null) => {
        this.rotating = false;
        if (err) this.warnOnce(err, 'flushing the log file before rotation failed');
        else this.renameAndReopen();
      });
    } catch (err) {
      this.rotating = false;
      this.warnOnce(err as Error, 'flushing the log file before rotation failed');
    }
  }

  private renameAndReopen(): void {
    if (this.closed) return;
    // Lines counted from here on land in the new file (or, already in flight, in the old).
    this.size = 0;
    const base = this.path;
    const max = this.rotation.maxFiles;
    try {
      for (let i = Math.min(this.highest, max - 1); i >= 1; i--) renameIfExists(`${base}.${i}`, `${base}.${i + 1}`);
      renameIfExists(base, `${base}.1`);
      this.highest = Math.min(this.highest + 1, max);
    } catch (err) {
      // A failed rename (permissions, a full disk) must not stop logging: keep appending.
      this.warnOnce(err as Error, 'rotating the log file failed; still writing to it');
      return;
    }
    this.reopen();
  }

  /**
   * Reopens the file by its path: after `rotate`, or after an external logrotate moved it
   * (SIGUSR1, like nginx). Lines keep flowing; none is lost.
   */
  reopen(): void {
    try {
      this.reopening = true;
      this.boom.reopen();
    } catch (err) {
      this.warnOnce(err as Error, 'reopening the log file failed');
      return;
    }
    this.size = fileSize(this.path);
  }

  /** Writes out what is buffered (on shutdown). */
  flushSync(): void {
    try {
      this.boom.flushSync();
    } catch {
      // Nothing buffered, or the file is still opening: nothing more can be done synchronously.
    }
  }

  /** Flushes and closes; resolves once the file is closed. */
  close(): Promise<void> {
    this.closed = true;
    return new Promise((resolve) => {
      const boom = this.boom;
      if ((boom as unknown as { destroyed?: boolean }).destroyed === true) return resolve();
      boom.once('close', () => resolve());
      boom.once('error', () => resolve());
      try {
        boom.end();
      } catch {
        resolve();
      }
    });
  }

  private warnOnce(err: Error, what: string): void {
    if (this.warned) return;
    this.warned = true;
    this.onError(err, `${what}: ${this.path}`);
  }
}

function renameIfExists(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function highestRotated(path: string, maxFiles: number): number {
  const prefix = `${basename(path)}.`;
  let highest = 0;
  try {
    for (const name of readdirSync(dirname(path))) {
      if (!name.startsWith(prefix)) continue;
      const n = Number(name.slice(prefix.length));
      if (Number.isInteger(n) && n > highest) highest = n;
    }
  } catch {
    // No directory yet: nothing rotated.
  }
  return Math.min(highest, maxFiles);
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function nextUtcMidnight(now: number): number {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
}
