/**
 * What the watching providers (etcd, Kubernetes) share: reading a streamed HTTP body as
 * JSON lines, a pause between rounds that `stop()` can cut short, and a readable reason
 * for a failed `fetch`.
 */

/** The JSON values of a newline-delimited stream, one per line (blank lines skipped). */
export async function* jsonLines(body: AsyncIterable<Uint8Array>): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of body) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line !== '') yield JSON.parse(line);
    }
  }
}

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
