/**
 * The delivery queue: every notification is written to disk before it is sent (one file
 * per notification: written to a temporary name, fsync'd, renamed into place, directory
 * fsync'd) and removed once the receiver took it. A receiver outage means retries with
 * exponential backoff and jitter up to `maxAge`; a gateway restart (even SIGKILL) means
 * the files are still there and are replayed at start.
 *
 * One file per notification rather than an append-only log: notifications are rare
 * (a handful a minute at worst), so the per-file cost does not matter, and removing a
 * delivered one is an unlink instead of log compaction.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.js';
import { writeFileAtomic } from '../providers/atomic-file.js';
import type { Notification } from './notifiers.js';
import type { AlertQueueConfig } from './schema.js';

interface Entry {
  readonly file: string;
  readonly notification: Notification;
  attempts: number;
  nextAt: number;
  lastError: string | null;
  inFlight: boolean;
}

/** How a queued notification is sent: resolves when the receiver took it. */
export type Sender = (n: Notification) => Promise<void>;

/** What the queue holds, for the admin API and tests. */
export interface QueueStatus {
  readonly pending: number;
  readonly items: ReadonlyArray<{ id: string; receiver: string; createdAt: number; attempts: number; nextAt: number; lastError: string | null }>;
}

const CONCURRENCY = 4;

/**
 * @example
 * const q = new DeliveryQueue(config.queue, logger, (n) => deliver(receivers[n.receiver], n));
 * q.open();           // replays what a previous run left
 * q.enqueue(notification);
 * await q.close();
 */
export class DeliveryQueue {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private opened = false;
  private inFlight = 0;
  private readonly idle = new Set<() => void>();
  private readonly pendingDir: string;

  constructor(
    private config: AlertQueueConfig,
    private readonly logger: Logger,
    private readonly send: Sender,
  ) {
    this.pendingDir = join(config.dir, 'pending');
  }

  /** Takes new limits and backoffs (a reload); the directory is fixed at start. */
  reconfigure(config: AlertQueueConfig): void {
    if (config.dir !== this.config.dir) this.logger.warn({ dir: this.config.dir }, 'alerts.queue.dir changes take effect after a restart');
    this.config = { ...config, dir: this.config.dir };
  }

  /** Creates the directory and loads what a previous run left, to be sent at once. */
  open(): void {
    if (this.opened) return;
    this.opened = true;
    let names: string[];
    try {
      mkdirSync(this.pendingDir, { recursive: true });
      names = readdirSync(this.pendingDir).sort();
    } catch (error) {
      // Without the directory notifications are still sent, only without a copy on disk.
      this.logger.error({ err: error, dir: this.config.dir, code: 'BRISK_ALERT_DELIVERY_FAILED' }, 'cannot use the alert queue directory; notifications are sent without a copy on disk (check alerts.queue.dir)');
      names = [];
    }
    let replayed = 0;
    for (const name of names) {
      const file = join(this.pendingDir, name);
      if (name.endsWith('.tmp')) {
        // A write that never reached its rename: never enqueued, so never acknowledged to anyone.
        tryUnlink(file);
        continue;
      }
      if (!name.endsWith('.json')) continue;
      try {
        const notification = JSON.parse(readFileSync(file, 'utf8')) as Notification;
        if (typeof notification.id !== 'string' || typeof notification.receiver !== 'string' || !Array.isArray(notification.alerts)) throw new Error('not a notification');
        this.entries.set(notification.id, { file, notification, attempts: 0, nextAt: 0, lastError: null, inFlight: false });
        replayed++;
      } catch (error) {
        this.logger.error({ err: error, file, code: 'BRISK_ALERT_DELIVERY_FAILED' }, 'unreadable notification in the alert queue; moved aside');
        try {
          renameSync(file, `${file}.bad`);
        } catch {
          // nothing more to do
        }
      }
    }
    if (replayed > 0) this.logger.info({ pending: replayed, dir: this.config.dir }, 'alert queue: replaying notifications left by the previous run');
    this.schedule(0);
  }

  get size(): number {
    return this.entries.size;
  }

  status(): QueueStatus {
    return {
      pending: this.entries.size,
      items: [...this.entries.values()].map((e) => ({ id: e.notification.id, receiver: e.notification.receiver, createdAt: e.notification.createdAt, attempts: e.attempts, nextAt: e.nextAt, lastError: e.lastError })),
    };
  }

  /**
   * Writes the notification to disk and schedules it. Returns false (and logs) when the
   * queue is full or the disk refused it.
   */
  enqueue(notification: Notification): boolean {
    if (this.closed) return false;
    this.open();
    if (this.entries.size >= this.config.maxItems) {
      this.logger.error(
        { code: 'BRISK_ALERT_QUEUE_FULL', receiver: notification.receiver, pending: this.entries.size, maxItems: this.config.maxItems, alerts: notification.alerts.map((a) => a.rule) },
        `alert queue full (${this.entries.size} notifications waiting, alerts.queue.maxItems); dropping this notification. Is a receiver down for long?`,
      );
      return false;
    }
    const file = join(this.pendingDir, `${String(notification.createdAt).padStart(15, '0')}-${notification.id}.json`);
    // Not sent before its copy is on disk (nextAt: Infinity until then), so that a delivery
    // can never be followed by the file of a notification already acknowledged. The write
    // and its fsyncs run off the event loop: alerts fire when the gateway is under stress.
    const entry: Entry = { file, notification, attempts: 0, nextAt: Infinity, lastError: null, inFlight: false };
    this.entries.set(notification.id, entry);
    const written = writeDurablyAsync(file, JSON.stringify(notification))
      .catch((error: unknown) => {
        this.logger.error({ err: error, code: 'BRISK_ALERT_DELIVERY_FAILED', receiver: notification.receiver }, 'cannot write the notification to the alert queue; sending it without a copy on disk');
      })
      .finally(() => {
        this.writes.delete(written);
        if (this.entries.get(notification.id) !== entry) return;
        entry.nextAt = 0;
        this.schedule(0);
      });
    this.writes.add(written);
    return true;
  }

  /** Copies of notifications still being written to disk. */
  private readonly writes = new Set<Promise<void>>();

  /** Stops sending (what is on disk stays for the next run) and waits for sends in flight, up to `waitMs`. */
  async close(waitMs = 2000): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    // What was enqueued reaches the disk before the gateway goes, so the next run sends it.
    if (this.writes.size > 0) await Promise.race([Promise.allSettled([...this.writes]), new Promise((r) => setTimeout(r, waitMs).unref())]);
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, waitMs);
      this.idle.add(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump();
    }, Math.max(0, delayMs));
    this.timer.unref();
  }

  private pump(): void {
    if (this.closed) return;
    const now = Date.now();
    const due = [...this.entries.values()].filter((e) => !e.inFlight && e.nextAt <= now).sort((a, b) => a.notification.createdAt - b.notification.createdAt);
    for (const entry of due) {
      if (this.inFlight >= CONCURRENCY) break;
      if (now - entry.notification.createdAt > this.config.maxAgeMs) {
        this.logger.error(
          { code: 'BRISK_ALERT_DELIVERY_FAILED', receiver: entry.notification.receiver, id: entry.notification.id, attempts: entry.attempts, lastError: entry.lastError },
          `notification to receiver ${JSON.stringify(entry.notification.receiver)} dropped: not delivered within alerts.queue.maxAge`,
        );
        this.remove(entry);
        continue;
      }
      void this.attempt(entry);
    }
    this.scheduleNext();
  }

  private scheduleNext(): void {
    let next = Infinity;
    for (const e of this.entries.values()) if (!e.inFlight) next = Math.min(next, e.nextAt);
    if (next !== Infinity) this.schedule(next - Date.now());
  }

  private async attempt(entry: Entry): Promise<void> {
    entry.inFlight = true;
    this.inFlight++;
    try {
      await this.send(entry.notification);
      this.remove(entry);
      this.logger.info({ receiver: entry.notification.receiver, id: entry.notification.id, status: entry.notification.status, alerts: entry.notification.alerts.length, attempts: entry.attempts + 1 }, 'alert notification delivered');
    } catch (error) {
      entry.attempts++;
      entry.lastError = (error as Error).message;
      const base = Math.min(this.config.maxBackoffMs, this.config.initialBackoffMs * 2 ** Math.min(entry.attempts - 1, 30));
      // Full jitter on half the delay: many gateways retrying one receiver do not line up.
      const delay = base / 2 + Math.random() * (base / 2);
      entry.nextAt = Date.now() + delay;
      this.logger.warn(
        { code: 'BRISK_ALERT_DELIVERY_FAILED', receiver: entry.notification.receiver, id: entry.notification.id, attempts: entry.attempts, retryInMs: Math.round(delay), reason: entry.lastError },
        `alert notification to ${JSON.stringify(entry.notification.receiver)} failed; retrying`,
      );
    } finally {
      entry.inFlight = false;
      this.inFlight--;
      if (this.inFlight === 0) {
        for (const f of this.idle) f();
        this.idle.clear();
      }
      if (!this.closed) this.pump();
    }
  }

  private remove(entry: Entry): void {
    this.entries.delete(entry.notification.id);
    tryUnlink(entry.file);
  }
}

/** `writeDurably` off the event loop: the same steps (temporary file, fsync, rename, directory fsync). */
export async function writeDurablyAsync(file: string, text: string): Promise<void> {
  await writeFileAtomic(file, text);
}

/** Writes a file so that after a crash it is either absent or complete. */
export function writeDurably(file: string, text: string): void {
  const tmp = `${file}.${randomUUID().slice(0, 8)}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  // The rename itself is durable only once the directory is synced.
  try {
    const dirFd = openSync(join(file, '..'), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    // Some file systems refuse to fsync a directory; the data itself is synced.
  }
}

function tryUnlink(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}
