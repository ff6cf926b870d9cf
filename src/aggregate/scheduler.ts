/**
 * The small DAG scheduler of aggregate routes: every node whose dependencies are done is
 * started at once, so independent parts run in parallel and a dependent part starts the
 * moment its last dependency finishes. Plus the load-time checks: unknown references and
 * cycles, and a topological order.
 *
 * Written by hand: a handful of integers per request, no library does less.
 */

/** The shape of the graph, compiled once per route: node i depends on `deps[i]`. */
export interface DagShape {
  readonly deps: readonly (readonly number[])[];
  /** The reverse edges: who waits for node i. */
  readonly dependents: readonly (readonly number[])[];
}

export function dagShape(deps: readonly (readonly number[])[]): DagShape {
  const dependents: number[][] = deps.map(() => []);
  deps.forEach((ds, i) => {
    for (const d of ds) dependents[d]!.push(i);
  });
  return { deps, dependents };
}

/** What the run asks its owner to do. */
export interface DagCallbacks {
  /** Start node `i`; call `run.done(i, ok)` when it ends (may be synchronous). */
  start(i: number): void;
  /** Node `i` will not run because dependency `failed` did not succeed. */
  skip(i: number, failed: number): void;
  /** Every node has finished or been skipped. */
  finished(): void;
}

/**
 * One run over a graph. Nodes are started in index order among those ready, so a graph
 * given in topological order starts its roots first.
 *
 * @example
 * const run = new DagRun(dagShape([[], [0], [0]]), { start: (i) => go(i), skip: () => {}, finished: () => answer() });
 * run.begin(); // starts 0; done(0, true) starts 1 and 2 together
 */
export class DagRun {
  private readonly waiting: Int32Array;
  /** 0: not started, 1: running, 2: done, 3: skipped. */
  private readonly state: Uint8Array;
  private remaining: number;
  private stopped = false;

  constructor(
    private readonly shape: DagShape,
    private readonly cb: DagCallbacks,
  ) {
    const n = shape.deps.length;
    this.waiting = new Int32Array(n);
    for (let i = 0; i < n; i++) this.waiting[i] = shape.deps[i]!.length;
    this.state = new Uint8Array(n);
    this.remaining = n;
  }

  begin(): void {
    if (this.remaining === 0) {
      this.cb.finished();
      return;
    }
    for (let i = 0; i < this.waiting.length && !this.stopped; i++) if (this.waiting[i] === 0 && this.state[i] === 0) this.launch(i);
  }

  /** Node `i` ended; `ok` false skips everything that depends on it. */
  done(i: number, ok: boolean): void {
    if (this.state[i] !== 1) return;
    this.state[i] = 2;
    this.remaining--;
    for (const d of this.shape.dependents[i]!) {
      if (this.stopped) return;
      if (!ok) this.skipFrom(d, i);
      else {
        const left = this.waiting[d]! - 1;
        this.waiting[d] = left;
        if (left === 0 && this.state[d] === 0) this.launch(d);
      }
    }
    if (this.remaining === 0 && !this.stopped) {
      this.stopped = true;
      this.cb.finished();
    }
  }

  /** Stops starting nodes (a required part failed); `finished` is not called. */
  stop(): void {
    this.stopped = true;
  }

  /** Node `i` was started and has not finished. */
  isRunning(i: number): boolean {
    return this.state[i] === 1;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  private launch(i: number): void {
    this.state[i] = 1;
    this.cb.start(i);
  }

  private skipFrom(i: number, failed: number): void {
    if (this.state[i] !== 0) return;
    this.state[i] = 3;
    this.remaining--;
    this.cb.skip(i, failed);
    for (const d of this.shape.dependents[i]!) {
      if (this.stopped) return;
      this.skipFrom(d, i);
    }
  }
}

/**
 * A cycle among named nodes, as the names along it (`['a', 'b', 'a']`), or null.
 * `deps` maps each name to the names it needs (unknown names are ignored here).
 */
export function findCycle(names: readonly string[], deps: ReadonlyMap<string, readonly string[]>): string[] | null {
  const WHITE = 0;
  const GREY = 1;
  const BLACK = 2;
  const colour = new Map<string, number>(names.map((n) => [n, WHITE]));
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    colour.set(n, GREY);
    stack.push(n);
    for (const d of deps.get(n) ?? []) {
      const c = colour.get(d);
      if (c === undefined) continue;
      if (c === GREY) return [...stack.slice(stack.indexOf(d)), d];
      if (c === WHITE) {
        const found = visit(d);
        if (found !== null) return found;
      }
    }
    stack.pop();
    colour.set(n, BLACK);
    return null;
  };
  for (const n of names) {
    if (colour.get(n) === WHITE) {
      const found = visit(n);
      if (found !== null) return found;
    }
  }
  return null;
}

/** The names in an order where every node comes after what it needs (stable: file order among equals). Assumes no cycle. */
export function topologicalOrder(names: readonly string[], deps: ReadonlyMap<string, readonly string[]>): string[] {
  const out: string[] = [];
  const placed = new Set<string>();
  const place = (n: string): void => {
    if (placed.has(n)) return;
    placed.add(n);
    for (const d of deps.get(n) ?? []) if (names.includes(d)) place(d);
    out.push(n);
  };
  for (const n of names) place(n);
  return out;
}
