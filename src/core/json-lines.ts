/**
 * Newline-delimited JSON from a streamed HTTP body: etcd's watch and the Kubernetes API's
 * watch both answer with one JSON value per line.
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
