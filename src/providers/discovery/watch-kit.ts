/**
 * What the watching providers share: a pause between rounds that `stop()` can cut short
 * (etcd, Kubernetes), and a readable reason for a failed `fetch` (Kubernetes; etcd's
 * calls go through the etcd client). The JSON-lines reader of a watch stream is
 * `core/json-lines.ts`, which the etcd client uses too.
 */

/** A wait between two rounds of a provider; `wake()` ends it at once (the provider stops). */
export class Pause {
  private waking: (() => void) | null = null;

  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waking = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.waking = done;
    });
  }

  wake(): void {
    this.waking?.();
  }
}

/** Why a `fetch` failed, in a few words: a timeout, the socket error's code, or the message. */
export function fetchFailure(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return 'no answer in time (timeout)';
  return e.cause?.code ?? e.cause?.message ?? e.message;
}
