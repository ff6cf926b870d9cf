/**
 * An instance registering itself in etcd the way docs/discovery.md tells services to: a
 * lease with a TTL, a key under the service's prefix put with that lease, and keep-alives
 * every third of the TTL (through Brisk's etcd client, over the v3 JSON gateway). `deregister()` revokes the lease
 * (the key goes at once); `crash()` only stops the keep-alives (the key goes when the lease
 * expires).
 */
import { EtcdClient } from '../../src/etcd/client.js';

export interface EtcdRegistration {
  readonly leaseId: string;
  deregister(): Promise<void>;
  crash(): void;
}

export async function etcdRegister(endpoint: string, key: string, value: string, ttlS: number): Promise<EtcdRegistration> {
  const client = new EtcdClient({ endpoints: [endpoint] });
  const id = await client.grantLease(ttlS);
  await client.put(key, value, id);
  // Keep-alives go on through an outage of etcd (they fail, then succeed again).
  const timer = setInterval(() => void client.keepAlive(id).catch(() => {}), Math.max(200, (ttlS * 1000) / 3));
  timer.unref();
  return {
    leaseId: id,
    async deregister() {
      clearInterval(timer);
      await client.revokeLease(id);
    },
    crash() {
      clearInterval(timer);
    },
  };
}

/** Puts a key without a lease (a value written by hand). */
export async function etcdPut(endpoint: string, key: string, value: string): Promise<void> {
  await new EtcdClient({ endpoints: [endpoint] }).put(key, value);
}
