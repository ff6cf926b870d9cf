/**
 * The order in which the embedded server hands its connections' messages to PGlite.
 *
 * PGlite is one backend session; `@electric-sql/pglite-socket` (0.2.x) queues every
 * frontend message of every connection onto it and keeps a connection's turn only while
 * a SQL transaction is open. That is not enough for the extended query protocol: the
 * unnamed prepared statement of `Parse`/`Bind`/`Execute` lives until `Sync`, outside any
 * transaction, so two connections' batches interleaved — `26000 unnamed prepared
 * statement does not exist`, or, when the shapes matched, one connection reading the
 * rows of another's query (upstream: electric-sql/pglite#1046, open; #977). This queue
 * replaces the library's (same four methods, set on the server before it accepts a
 * connection): a connection keeps the backend from its first message until the backend
 * answers `ReadyForQuery` with status idle (`Z` … `I`), so a batch, and a transaction,
 * runs whole. Written here rather than patched in node_modules: it must survive `npm ci`.
 */

/** What the socket server asks of its queue (pglite-socket's QueryQueueManager). */
interface Backend {
  runExclusive<T>(fn: () => Promise<T>): Promise<T>;
  execProtocolRawStream(message: Uint8Array, options: { onRawData: (data: Uint8Array) => void }): Promise<unknown>;
  execProtocolRaw(message: Uint8Array): Promise<Uint8Array>;
  isInTransaction(): boolean;
  exec(sql: string): Promise<unknown>;
}

interface Queued {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (error: Error) => void;
}

/** `Sync`: ends an extended-protocol batch a vanished connection left open. */
const SYNC = new Uint8Array([0x53, 0, 0, 0, 4]);

/** The status byte of the last `ReadyForQuery` in a complete backend answer, or undefined. */
export function lastReadyStatus(bytes: Uint8Array): string | undefined {
  let status: string | undefined;
  let at = 0;
  while (at + 5 <= bytes.length) {
    const type = bytes[at]!;
    const length = ((bytes[at + 1]! << 24) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 8) | bytes[at + 4]!) >>> 0;
    if (type === 0x5a && length === 5 && at + 5 < bytes.length) status = String.fromCharCode(bytes[at + 5]!);
    at += 1 + length;
  }
  return status;
}

export class BatchQueue {
  readonly #db: Backend;
  #queue: Queued[] = [];
  #processing = false;
  /** The connection whose batch or transaction is open on the backend. */
  #owner: number | undefined;

  constructor(db: Backend) {
    this.#db = db;
  }

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ handlerId, message, onData, resolve, reject });
      void this.#process();
    });
  }

  getQueueLength(): number {
    return this.#queue.length;
  }

  clearQueueForHandler(handlerId: number): void {
    this.#queue = this.#queue.filter((q) => {
      if (q.handlerId !== handlerId) return true;
      q.reject(new Error('Handler disconnected'));
      return false;
    });
  }

  /** A connection went away: end what it left open, so the others get their turn. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.#owner !== handlerId) return;
    await this.#db.runExclusive(async () => {
      await this.#db.execProtocolRaw(SYNC).catch(() => undefined);
      if (this.#db.isInTransaction()) await this.#db.exec('ROLLBACK').catch(() => undefined);
    });
    this.#owner = undefined;
    void this.#process();
  }

  async #process(): Promise<void> {
    if (this.#processing) return;
    this.#processing = true;
    try {
      while (this.#queue.length > 0) {
        const index = this.#owner === undefined ? 0 : this.#queue.findIndex((q) => q.handlerId === this.#owner);
        if (index < 0) break; // the owner's next message has not arrived yet: everyone waits for it
        const item = this.#queue.splice(index, 1)[0]!;
        const chunks: Uint8Array[] = [];
        let bytes = 0;
        try {
          await this.#db.runExclusive(() =>
            this.#db.execProtocolRawStream(item.message, {
              onRawData: (data) => {
                bytes += data.length;
                chunks.push(data);
                item.onData(data);
              },
            }),
          );
        } catch (error) {
          item.reject(error instanceof Error ? error : new Error(String(error)));
          continue;
        }
        const status = lastReadyStatus(Buffer.concat(chunks));
        if (status === 'I') this.#owner = undefined;
        else this.#owner = item.handlerId; // mid-batch (no ReadyForQuery yet) or in a transaction
        item.resolve(bytes);
      }
    } finally {
      this.#processing = false;
    }
  }
}
