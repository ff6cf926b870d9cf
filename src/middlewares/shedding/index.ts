/**
 * Shedding: a route's concurrency limit with a bounded priority queue (`concurrency`),
 * and gateway-wide load shedding by priority (`overload`). See README.md for the design
 * and for what the proxy must call.
 */
export { ConcurrencyLimiter, createConcurrencyMiddleware, type ConcurrencyMiddleware, type ConcurrencyStats } from './concurrency.js';
export { createSheddingMiddleware, EventLoopLagMonitor, LoadShedder, type LagSource, type LoadShedderStats, type ShedLevelChange } from './load-shedder.js';
export { parsePriority, Priority, priorityOf, requestPriority } from './priority.js';
export { realScheduler, type Scheduler } from './scheduler.js';
export {
  ConcurrencySchema,
  type ConcurrencyConfig,
  type OverloadConfig,
  type PriorityName,
  normalizeConcurrency,
  normalizeOverload,
  normalizePriority,
  OverloadSchema,
  PrioritySchema,
  type RawConcurrency,
  type RawOverload,
  type RawPriority,
} from './schema.js';
