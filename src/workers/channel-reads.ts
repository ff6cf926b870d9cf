import type { Worker as ClusterWorker } from 'node:cluster';

/** The part of a libuv stream handle used here: reading on and off. */
interface Readable {
  readStart(): number;
  readStop(): number;
}

/**
 * Reads a quiet worker's IPC channel on the primary's tick only, not at each message.
 *
 * Every wake-up of a process costs it 100–200 µs of CPU on a shared virtual machine, and
 * the primary was woken by every message of every worker (a busy worker sends about 35 a
 * second: reports and batches of finished requests); its JavaScript per message is a few
 * microseconds. So while nothing waits for a worker's answer, the primary stops reading its
 * channel: the worker's messages wait in the kernel's socket buffer (a few kilobytes per
 * tick) and are all read at the next tick (every 100 ms) in one wake-up. Measured with two
 * children sending 70 messages a second: 217 ms of the parent's CPU in 5 s, 88 ms so.
 *
 * Reading is on whenever something waits: a worker not yet serving, leaving or stopping,
 * a connection sent and not yet acknowledged (Node sends a worker's next handle only after
 * its acknowledgement is read), a question to the workers (`hold`: a scrape's flush, a
 * reload, a purge), a worker that exited (its last messages and the channel's end). A
 * heartbeat read up to 100 ms late changes nothing against the 2.5 s stuck bar, and the
 * messages of a worker killed outright are still in the buffer: they are read after its
 * exit, as before.
 *
 * The channel's handle is Node's own (`kChannelHandle` on the `ChildProcess`), found by
 * its symbol's description: on a Node without it nothing is paused, as before.
 */
export class ChannelReads {
  private readonly handles = new Map<ClusterWorker, Readable>();
  private readonly paused = new Set<ClusterWorker>();
  private holds = 0;
  private settling = false;

  constructor(
    /** Whether nothing waits for this worker's messages now. */
    private readonly quiet: (worker: ClusterWorker) => boolean,
  ) {}

  add(worker: ClusterWorker): void {
    const handle = channelHandle(worker);
    if (handle !== null) this.handles.set(worker, handle);
  }

  /** The worker exited: its channel is read to its end. */
  remove(worker: ClusterWorker): void {
    this.resume(worker);
    this.handles.delete(worker);
  }

  /** Its messages are read as they come from now on (until a tick finds it quiet again). */
  resume(worker: ClusterWorker): void {
    if (!this.paused.delete(worker)) return;
    call(this.handles.get(worker), 'readStart');
  }

  /** Every channel is read as its messages come; true when some were paused (their messages are read in the next poll of the event loop). */
  wakeAll(): boolean {
    if (this.paused.size === 0) return false;
    for (const w of [...this.paused]) this.resume(w);
    return true;
  }

  /** Something waits for answers from the workers: every channel is read as its messages come until `release` is called. */
  hold(): () => void {
    this.holds++;
    this.wakeAll();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
    };
  }

  /** The primary's tick (a timer): what the paused channels hold is read in this turn's poll, then the quiet ones pause again. */
  tick(): void {
    this.wakeAll();
    if (this.settling) return;
    this.settling = true;
    // The check phase of this turn comes after its poll phase, which reads the channels started above.
    setImmediate(this.settle);
  }

  private readonly settle = (): void => {
    this.settling = false;
    if (this.holds > 0) return;
    for (const [w, handle] of this.handles) {
      if (this.paused.has(w) || !w.isConnected() || !this.quiet(w)) continue;
      if (call(handle, 'readStop')) this.paused.add(w);
    }
  };
}

/** Calls readStart/readStop; false when the handle is gone or refused. */
function call(handle: Readable | undefined, what: 'readStart' | 'readStop'): boolean {
  if (handle === undefined) return false;
  try {
    return handle[what]() === 0;
  } catch {
    return false;
  }
}

/** Node's handle of a worker's IPC channel, or null when this Node keeps it otherwise. */
function channelHandle(worker: ClusterWorker): Readable | null {
  const proc = worker.process as unknown as Record<symbol, unknown>;
  const sym = Object.getOwnPropertySymbols(proc).find((s) => s.description === 'kChannelHandle');
  const h = sym === undefined ? null : (proc[sym] as Partial<Readable> | null | undefined);
  return h != null && typeof h.readStart === 'function' && typeof h.readStop === 'function' ? (h as Readable) : null;
}
