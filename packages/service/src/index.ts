/**
 * `@brisk/service`: the service side of Brisk. See README.md.
 */
export { SERVICE_ERROR_CODES, ServiceError, isServiceError, type ServiceErrorCode } from './errors.js';
export { DEADLINE_HEADER, REQUEST_ID_HEADER, TRACEPARENT_HEADER, TRACESTATE_HEADER, errorBodyText, parseDeadlineHeader, type ErrorBody } from './contracts.js';
export { currentContext, remainingMs, runWithContext, type RequestContext, type TraceContext } from './context.js';
export { defaultLogger, Registry, type Logger } from './observability.js';

export { Database, type DatabaseStatus, type ReadOptions, type Row, type Tx, type WriteOptions, type WriteResult } from './db/database.js';
export { parseDatabaseUrl, type DatabaseOptions } from './db/options.js';
export { laterToken, type ReadToken } from './db/lsn.js';
export { startEmbeddedPostgres, type EmbeddedOptions, type EmbeddedPostgres } from './db/embedded.js';
export { ShardedDatabase, copySlot, evenSlotMap, fnv1a, type ShardedOptions, type SlotMap } from './db/shards.js';

export { Cache, type CacheOptions, type CacheResult, type CacheStats } from './cache/cache.js';

export { SagaOrchestrator, SAGA_STATES, type OrchestratorOptions, type SagaRecord, type SagaState } from './saga/orchestrator.js';
export { StepFailed, type SagaDefinition, type SagaStep, type StepContext } from './saga/definition.js';
export { Participant, type ParticipantOptions } from './saga/participant.js';
export { Outbox, type OutboxEvent } from './saga/outbox.js';
export { stepKey, parseStepKey, type StepAction } from './saga/keys.js';

export { createService, json, Reply, Service, type Dependency, type Handler, type HandlerContext, type ServiceOptions, type UpgradeHandler, type UpgradeOptions } from './service/service.js';
export { callService } from './service/outbound.js';
export { REGISTRY_EVENTS, REGISTRY_PREFIX, type InstanceRecord, type RegistrationOptions } from './service/registration.js';
export { connectRedis, parseRedisLocation, type RedisLocation, type SentinelLocation } from './redis.js';
export { IdempotencyStore, idempotent, idempotentTransaction, type IdempotencyOptions, type IdempotentContext, type RouteIdempotencyOptions } from './idempotency/idempotency.js';
export { Housekeeper, type HousekeeperOptions, type HousekeepingJob, type JobResult } from './housekeeping/housekeeper.js';
export { appliedKeysJob, cacheJob, finishedSagasJob, idempotencyKeysJob, logFilesJob } from './housekeeping/jobs.js';
