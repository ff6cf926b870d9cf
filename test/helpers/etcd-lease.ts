/**
 * An instance registering itself in etcd the way docs/discovery.md tells services to: a
 * lease with a TTL, a key under the service's prefix put with that lease, and keep-alives
 * every third of the TTL (through the v3 JSON gateway). `deregister()` revokes the lease
 * (the key goes at once); `crash()` only stops the keep-alives (the key goes when the lease
 * expires).
 */
export interface EtcdRegistration {
  readonly leaseId: string;
  deregister(): Promise<void>;
  crash(): void;
}

async function call(endpoint: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${endpoint}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(2000) });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

export async function etcdRegister(endpoint: string, key: string, value: string, ttlS: number): Promise<EtcdRegistration> {
  const grant = await call(endpoint, '/v3/lease/grant', { TTL: String(ttlS) });
  const id = String(grant['ID']);
  await call(endpoint, '/v3/kv/put', { key: b64(key), value: b64(value), lease: id });
  // Keep-alives go on through an outage of etcd (they fail, then succeed again).
  const timer = setInterval(() => void call(endpoint, '/v3/lease/keepalive', { ID: id }).catch(() => {}), Math.max(200, (ttlS * 1000) / 3));
  timer.unref();
  return {
    leaseId: id,
    async deregister() {
      clearInterval(timer);
      await call(endpoint, '/v3/lease/revoke', { ID: id });
    },
    crash() {
      clearInterval(timer);
    },
  };
}

/** Puts a key without a lease (a value written by hand). */
export async function etcdPut(endpoint: string, key: string, value: string): Promise<void> {
  await call(endpoint, '/v3/kv/put', { key: b64(key), value: b64(value) });
}
