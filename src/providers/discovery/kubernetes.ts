/**
 * The Kubernetes provider (`discovery.kubernetes`): the ready endpoints of a Service's
 * EndpointSlices (`discovery.k8s.io/v1`), listed and then watched over the API server's
 * REST API with a bearer token — the informer pattern of client-go, for one label
 * selector, without client-go:
 *
 * 1. `GET …/namespaces/NS/endpointslices?labelSelector=kubernetes.io/service-name=SVC`:
 *    the slices and the list's `resourceVersion`; answered at once.
 * 2. `…&watch=1&resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=N`: a stream of
 *    JSON lines (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR`); each change is
 *    applied to the slices and answered. `ERROR` (410 Gone: the version is too old) ends
 *    the round: the next one lists again.
 * 3. The watch asks the server to end it after `interval`, and every round starts with a
 *    list, so the view is confirmed at least that often (staleness) even when nothing
 *    changes, and a watch that silently died is noticed.
 *
 * An endpoint is a target when `conditions.ready` is not false (unset means ready, per
 * the API); a terminating endpoint is not ready, so it leaves the upstream and drains. The
 * port is the slice's port named `port`, or the given number, or the slice's first port.
 * The token file is read on every request (projected tokens rotate); TLS to the API server
 * trusts `caFile` when it exists.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Dispatcher } from 'undici';
import { newUndiciAgent, fetch } from '../../core/undici.js';
import type { DiscoveredTarget, DiscoveryProvider, DiscoverySink, ProviderContext } from './config/contract.js';
import type { KubernetesDiscoveryConfig } from './config/types.js';
import { hostPart } from './entries.js';
import { jsonLines } from '../../core/json-lines.js';
import { fetchFailure, Pause } from './watch-kit.js';

/** The parts of an EndpointSlice this provider reads. */
interface EndpointSlice {
  readonly metadata?: { readonly name?: string; readonly resourceVersion?: string };
  readonly addressType?: 'IPv4' | 'IPv6' | 'FQDN';
  readonly ports?: readonly { readonly name?: string; readonly port?: number }[] | null;
  readonly endpoints?: readonly { readonly addresses?: readonly string[]; readonly conditions?: { readonly ready?: boolean | null } }[] | null;
}

interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: EndpointSlice & { readonly code?: number; readonly message?: string; readonly reason?: string };
}

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;

export function start(config: KubernetesDiscoveryConfig, sink: DiscoverySink, context: ProviderContext): DiscoveryProvider {
  const p = new KubernetesProvider(config, sink, context);
  void p.run();
  return p;
}

class KubernetesProvider implements DiscoveryProvider {
  private stopped = false;
  private round: AbortController | null = null;
  private readonly pause = new Pause();
  private slices = new Map<string, EndpointSlice>();
  private resourceVersion = '';
  private readonly dispatcher: Dispatcher | undefined;
  private readonly base: string;

  constructor(
    private readonly config: KubernetesDiscoveryConfig,
    private readonly sink: DiscoverySink,
    private readonly context: ProviderContext,
  ) {
    const selector = encodeURIComponent(`kubernetes.io/service-name=${config.service}`);
    this.base = `${config.apiServer}/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(config.namespace)}/endpointslices?labelSelector=${selector}`;
    const ca = config.caFile !== null && existsSync(config.caFile) ? readFileSync(config.caFile) : null;
    this.dispatcher = ca === null ? undefined : newUndiciAgent({ connect: { ca } });
  }

  async run(): Promise<void> {
    let backoff = MIN_BACKOFF_MS;
    while (!this.stopped) {
      const round = new AbortController();
      this.round = round;
      let failed = false;
      try {
        await this.list(round.signal);
        backoff = MIN_BACKOFF_MS;
        await this.watch(round.signal);
      } catch (err) {
        if (this.stopped) return;
        failed = true;
        this.sink.failed(`the Kubernetes API (${this.config.apiServer}, EndpointSlices of ${this.config.namespace}/${this.config.service}): ${fetchFailure(err)}`);
      }
      round.abort();
      if (this.stopped) return;
      await this.pause.wait(failed ? backoff : 0);
      if (failed) backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.round?.abort();
    this.pause.wake();
    await this.dispatcher?.close().catch(() => {});
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json' };
    const file = this.config.tokenFile;
    if (file !== null && existsSync(file)) h['authorization'] = `Bearer ${readFileSync(file, 'utf8').trim()}`;
    return h;
  }

  private async list(signal: AbortSignal): Promise<void> {
    const res = await fetch(this.base, { headers: this.headers(), signal: AbortSignal.any([signal, AbortSignal.timeout(this.config.timeoutMs)]), ...(this.dispatcher === undefined ? {} : { dispatcher: this.dispatcher }) });
    const text = await res.text();
    if (!res.ok) throw new Error(`list: HTTP ${res.status}${statusMessage(text)}`);
    const list = JSON.parse(text) as { metadata?: { resourceVersion?: string }; items?: EndpointSlice[] };
    this.slices = new Map((list.items ?? []).map((s) => [s.metadata?.name ?? '', s]));
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    this.answer();
  }

  /** Watches from the list's version; resolves when the server ends the watch or asks for a new list (410). */
  private async watch(signal: AbortSignal): Promise<void> {
    const seconds = Math.max(1, Math.round(this.config.intervalMs / 1000));
    const url = `${this.base}&watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(this.resourceVersion)}&timeoutSeconds=${seconds}`;
    // The server ends the watch after timeoutSeconds; a watch that outlives it by far is a dead connection.
    const deadline = AbortSignal.timeout(this.config.intervalMs + this.config.timeoutMs);
    const res = await fetch(url, { headers: this.headers(), signal: AbortSignal.any([signal, deadline]), ...(this.dispatcher === undefined ? {} : { dispatcher: this.dispatcher }) });
    if (!res.ok || res.body === null) throw new Error(`watch: HTTP ${res.status}${statusMessage(await res.text())}`);
    try {
      for await (const event of jsonLines(res.body as AsyncIterable<Uint8Array>)) if (!this.onEvent(event as WatchEvent)) return;
    } catch (err) {
      // The deadline cut a watch the server should have ended: list again (not a failure of the API).
      if (deadline.aborted && !signal.aborted) return;
      throw err;
    }
  }

  /** Applies one watch event; false when the watch must end (an ERROR: list again). */
  private onEvent(event: WatchEvent): boolean {
    if (this.stopped) return false;
    const o = event.object;
    if (event.type === 'ERROR') {
      this.context.logger.info({ upstream: this.context.upstream, code: o.code, reason: o.reason }, `upstream "${this.context.upstream}": Kubernetes watch ended (${o.code ?? ''} ${o.reason ?? o.message ?? ''}); listing again`);
      return false;
    }
    if (o.metadata?.resourceVersion !== undefined) this.resourceVersion = o.metadata.resourceVersion;
    const name = o.metadata?.name ?? '';
    if (event.type === 'ADDED' || event.type === 'MODIFIED') this.slices.set(name, o);
    else if (event.type === 'DELETED') this.slices.delete(name);
    // BOOKMARK: only the version moved; answering confirms the view.
    this.answer();
    return true;
  }

  private answer(): void {
    if (this.stopped) return;
    const targets: DiscoveredTarget[] = [];
    for (const slice of this.slices.values()) {
      const port = portOf(slice, this.config.port);
      if (port === null) {
        if ((slice.endpoints ?? []).length > 0) targets.push({ url: `(EndpointSlice ${slice.metadata?.name ?? '?'}) has no port ${this.config.port === null ? '' : JSON.stringify(this.config.port)}` });
        continue;
      }
      for (const e of slice.endpoints ?? []) {
        if (e.conditions?.ready === false) continue;
        const address = e.addresses?.[0];
        if (address !== undefined) targets.push({ url: `${this.context.scheme}://${hostPart(address)}:${port}` });
      }
    }
    this.sink.answer(targets);
  }

}

/** The port of a slice's endpoints: by name, a number as given, or the slice's first port. */
function portOf(slice: EndpointSlice, wanted: string | number | null): number | null {
  if (typeof wanted === 'number') return wanted;
  const ports = slice.ports ?? [];
  const p = wanted === null ? ports[0] : ports.find((x) => x.name === wanted);
  return p?.port ?? null;
}

/** The `message` of a Kubernetes Status body, when the body is one. */
function statusMessage(text: string): string {
  try {
    const s = JSON.parse(text) as { message?: string };
    return typeof s.message === 'string' ? `: ${s.message}` : '';
  } catch {
    return text === '' ? '' : `: ${text.slice(0, 120)}`;
  }
}

