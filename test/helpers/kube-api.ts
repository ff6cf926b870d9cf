/**
 * A loopback stand-in for kube-apiserver that plays back a recorded exchange
 * (test/fixtures/kubernetes-endpointslices.json): it lists the EndpointSlices of
 * default/orders, checks the bearer token and the label selector as the real server
 * does (401 / 400 Status bodies), and streams watch events when the test plays them,
 * ending a watch after its `timeoutSeconds`. It can go down and come back on its port.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from './repo-root.js';

interface Slice {
  metadata: { name?: string; resourceVersion?: string };
  [k: string]: unknown;
}
interface WatchEvent {
  type: string;
  object: Slice;
}

export interface KubeApi {
  readonly url: string;
  token: string;
  /** Requests seen: `list` or `watch` with the resourceVersion asked for. */
  readonly requests: { kind: 'list' | 'watch'; resourceVersion: string | null; authorized: boolean }[];
  /** Plays recorded watch event `index` to every open watch (and to the state later lists show). */
  play(index: number): void;
  /** Sends the recorded 410 Gone to every open watch and ends them. */
  gone(): void;
  /** Open watch connections. */
  readonly watching: number;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startKubeApi(port: number, token: string, tls?: { readonly cert: string; readonly key: string }): Promise<KubeApi> {
  const text = readFileSync(join(repoRoot('test/fixtures/kubernetes-endpointslices.json'), 'test/fixtures/kubernetes-endpointslices.json'), 'utf8').replaceAll('"{{PORT}}"', String(port));
  const exchange = JSON.parse(text) as { list: { metadata: { resourceVersion: string }; items: Slice[] }; watch: WatchEvent[]; gone: WatchEvent };
  const slices = new Map(exchange.list.items.map((s) => [s.metadata.name!, s]));
  let rv = exchange.list.metadata.resourceVersion;
  const watchers = new Set<ServerResponse>();
  let server: Server | null = null;
  let listenPort = 0;

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://kube');
    const authorized = req.headers.authorization === `Bearer ${api.token}`;
    const watch = url.searchParams.get('watch') === '1' || url.searchParams.get('watch') === 'true';
    api.requests.push({ kind: watch ? 'watch' : 'list', resourceVersion: url.searchParams.get('resourceVersion'), authorized });
    const status = (code: number, reason: string, message: string) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
    };
    if (!authorized) return status(401, 'Unauthorized', 'Unauthorized');
    if (url.pathname !== '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices') return status(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    if (url.searchParams.get('labelSelector') !== 'kubernetes.io/service-name=orders') return status(400, 'BadRequest', 'unable to parse requirement: expected kubernetes.io/service-name=orders in this recording');
    if (!watch) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: rv }, items: [...slices.values()] }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    watchers.add(res);
    const seconds = Number(url.searchParams.get('timeoutSeconds') ?? '1800');
    const timer = setTimeout(() => res.end(), seconds * 1000);
    res.on('close', () => {
      clearTimeout(timer);
      watchers.delete(res);
    });
  };

  const api: KubeApi = {
    url: '',
    token,
    requests: [],
    play(index) {
      const e = exchange.watch[index]!;
      if (e.object.metadata.resourceVersion !== undefined) rv = e.object.metadata.resourceVersion;
      if (e.type === 'ADDED' || e.type === 'MODIFIED') slices.set(e.object.metadata.name!, e.object);
      if (e.type === 'DELETED') slices.delete(e.object.metadata.name!);
      for (const w of watchers) w.write(`${JSON.stringify(e)}\n`);
    },
    gone() {
      for (const w of watchers) w.end(`${JSON.stringify(exchange.gone)}\n`);
    },
    get watching() {
      return watchers.size;
    },
    async down() {
      const s = server;
      server = null;
      if (s === null) return;
      for (const w of watchers) w.destroy();
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
    async up() {
      if (server !== null) return;
      const s = tls === undefined ? createServer(handler) : createTlsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, handler);
      await new Promise<void>((r) => s.listen(listenPort, '127.0.0.1', r));
      listenPort = (s.address() as AddressInfo).port;
      server = s;
      (api as { url: string }).url = `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${listenPort}`;
    },
    close: () => api.down(),
  };
  await api.up();
  return api;
}
