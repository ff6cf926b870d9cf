/**
 * The shop's databases and Redis, started by the launcher:
 * - embedded (the default): one PGlite per service, in this process, each behind its own
 *   loopback socket; memory caches. Nothing to install.
 * - real (`--real`): a PostgreSQL primary with a streaming replica and a Redis, started
 *   locally from the system's packages (as user postgres when run as root); each service
 *   has its own database on the cluster, reached by a multi-host URL (primary found, reads
 *   on the replica).
 */
import { startEmbeddedPostgres, type EmbeddedPostgres } from '@brisk/service';
import { startLocalPostgres, startLocalRedis, type LocalPostgresCluster, type LocalRedis } from '@brisk/service/local';
import { Database, pino } from '../common/deps.js';

export const SHOP_DATABASES = ['users', 'products', 'orders', 'payments'] as const;
export type ShopDatabase = (typeof SHOP_DATABASES)[number];

export interface ShopData {
  mode: 'embedded' | 'real';
  urls: Record<ShopDatabase, string>;
  redisUrl: string | undefined;
  /** The real cluster and Redis (for a game day's faults). */
  cluster?: LocalPostgresCluster;
  redis?: LocalRedis;
  embedded?: Record<ShopDatabase, EmbeddedPostgres>;
  stop(): Promise<void>;
}

export async function startEmbeddedData(): Promise<ShopData> {
  const started = await Promise.all(SHOP_DATABASES.map(() => startEmbeddedPostgres({ maxConnections: 200 })));
  const embedded = Object.fromEntries(SHOP_DATABASES.map((name, i) => [name, started[i]!])) as Record<ShopDatabase, EmbeddedPostgres>;
  return {
    mode: 'embedded',
    urls: Object.fromEntries(SHOP_DATABASES.map((name) => [name, embedded[name].url])) as Record<ShopDatabase, string>,
    redisUrl: undefined,
    embedded,
    stop: async () => void (await Promise.allSettled(started.map((pg) => pg.stop()))),
  };
}

export async function startRealData(): Promise<ShopData> {
  const cluster = await startLocalPostgres({ replicas: 1, synchronous: true });
  let redis: LocalRedis | undefined;
  try {
    const admin = await Database.connect({ name: 'shop-setup', url: cluster.url, logger: pino({ level: 'silent' }) });
    try {
      for (const name of SHOP_DATABASES) await admin.write(`create database ${name}`);
    } finally {
      await admin.close();
    }
    redis = await startLocalRedis();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  const base = cluster.url.replace(/\/postgres$/, '');
  const theRedis = redis;
  return {
    mode: 'real',
    urls: Object.fromEntries(SHOP_DATABASES.map((name) => [name, `${base}/${name}`])) as Record<ShopDatabase, string>,
    redisUrl: theRedis.url,
    cluster,
    redis: theRedis,
    stop: async () => {
      await Promise.allSettled([theRedis.stop(), cluster.stop()]);
    },
  };
}
