/**
 * `@brisk/service/local`: real PostgreSQL (primary + streaming replicas) and Redis on
 * loopback, from the system's packages, for development, integration tests and the proof.
 */
export { startLocalPostgres, postgresInstalled, POSTGRES_NOT_INSTALLED, type LocalPostgresCluster, type LocalPostgresNode, type LocalPostgresOptions } from './postgres.js';
export { startLocalRedis, redisServerPath, REDIS_NOT_INSTALLED, type LocalRedis } from './redis.js';
export { freePort } from './ports.js';
export { CHROMIUM_ARGS, chromiumSkip, findChromium } from './chromium.js';
