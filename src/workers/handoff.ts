import type { Worker as ClusterWorker } from 'node:cluster';

/**
 * Connections node:cluster handed to a worker that died before it took them.
 *
 * With round-robin scheduling the primary accepts each connection and sends its handle to
 * a worker (an internal `newconn` message, one at a time per listener and worker); it
 * closes its own copy only when the worker acknowledges. A worker that dies first (SIGKILL,
 * a crash, a stuck worker killed by the watchdog) never acknowledges, and Node keeps the
 * handle open in the primary with nobody reading it: the client waits for its own timeout.
 * Nothing was read from such a connection (a worker acknowledges before it reads a byte),
 * so its request is still whole in the kernel's buffer, and another worker can serve it.
 *
 * How it is found, through public objects only: the primary's `send` on the worker's
 * `ChildProcess` (which cluster calls for `newconn`) is wrapped to note each handle with
 * its sequence number, and the acknowledgements are read from the `internalMessage`
 * events of the same object. When the worker is gone (its IPC channel closed, so every
 * acknowledgement it sent has been read), the handles left were never taken.
 *
 * Guarded against a Node whose cluster speaks otherwise: only messages of the exact shape
 * are noted, and a worker with more unacknowledged handles than the one-per-listener Node
 * sends means acknowledgements are not recognised: the watch stops and forgets them
 * (Node's behaviour is then as without it).
 */
export class HandoffWatch {
  /** Sequence number → the handle sent with it, not yet acknowledged. */
  private readonly pending = new Map<number, object>();
  private enabled = true;
  private disconnected = false;
  private exited = false;
  private onGone: ((handles: object[]) => void) | null = null;

  constructor(
    worker: ClusterWorker,
    /** More than this many unacknowledged at once: the protocol is not what this code knows. */
    private readonly maxPending = 64,
    private readonly onConfused: () => void = () => {},
  ) {
    const proc = worker.process as unknown as { send?: (...args: unknown[]) => boolean; on(ev: string, fn: (...args: unknown[]) => void): void; once(ev: string, fn: () => void): void };
    const send = proc.send;
    if (typeof send !== 'function') {
      this.enabled = false;
      return;
    }
    proc.send = (...args: unknown[]): boolean => {
      const [message, handle] = args;
      if (this.enabled && handle !== null && typeof handle === 'object' && isNewConnection(message)) this.note(message.seq, handle);
      return send.apply(proc, args);
    };
    proc.on('internalMessage', (message: unknown) => {
      if (typeof message === 'object' && message !== null && (message as { cmd?: unknown }).cmd === 'NODE_CLUSTER') {
        const ack = (message as { ack?: unknown }).ack;
        if (typeof ack === 'number') this.pending.delete(ack);
      }
    });
    proc.once('disconnect', () => {
      this.disconnected = true;
      this.settle();
    });
  }

  /** Calls `then` once the worker exited and its channel is closed, with the handles it never acknowledged (taken: the caller owns them). */
  whenGone(then: (handles: object[]) => void): void {
    this.onGone = then;
    this.exited = true;
    // A channel that never reports its end (it should): the handles go after a second all the same.
    setTimeout(() => {
      this.disconnected = true;
      this.settle();
    }, 1000).unref();
    this.settle();
  }

  private note(seq: number, handle: object): void {
    this.pending.set(seq, handle);
    if (this.pending.size <= this.maxPending) return;
    this.enabled = false;
    this.pending.clear();
    this.onConfused();
  }

  private settle(): void {
    if (!this.exited || !this.disconnected || this.onGone === null) return;
    const then = this.onGone;
    this.onGone = null;
    const handles = [...this.pending.values()];
    this.pending.clear();
    then(handles);
  }
}

function isNewConnection(message: unknown): message is { seq: number } {
  if (typeof message !== 'object' || message === null) return false;
  const m = message as { cmd?: unknown; act?: unknown; seq?: unknown };
  return m.cmd === 'NODE_CLUSTER' && m.act === 'newconn' && typeof m.seq === 'number';
}

/** Closes a handle the primary holds (the client's connection ends instead of hanging). */
export function closeHandle(handle: object): void {
  try {
    (handle as { close?: () => void }).close?.();
  } catch {
    // Already closed.
  }
}
