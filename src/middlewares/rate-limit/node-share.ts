/**
 * In-memory rate limits that hold for a node of several data-plane workers (src/workers/).
 * A limit of 100/s must be 100/s for the node, not per worker, and asking the primary per
 * request would put IPC on the hot path. So each worker admits a *share* of every limit
 * (of every key: each route, client or tenant its limit counts), and the primary sets the
 * shares from what each worker saw asked (its demand, reported every 100 ms): a worker
 * that gets 70 % of a key's requests gets 70 % of its rate. Until the primary has seen a
 * key, each of N workers takes 1/N.
 *
 * With one process (no workers) nothing is set and a limit runs exactly as before.
 */

/** What the rate limiter asks of the node (set in a worker process only). */
export interface NodeShare {
  /** This process's share (0..1) of the limit `id` (route, limit name and key). */
  share(id: string): number;
  /** One request asked for the limit `id` (admitted or not); `perSecond` is the limit's rate for the node. */
  demand(id: string, perSecond: number): void;
}

let current: NodeShare | null = null;

/** Sets (a worker at start) or clears the node's shares for every in-memory rate limit of this process. */
export function setNodeShare(share: NodeShare | null): void {
  current = share;
}

/** The node's shares, or null in a single process. */
export function nodeShare(): NodeShare | null {
  return current;
}
