/**
 * Request routing, compiled once per configuration version: `compileRouter(config.routes)`
 * builds lookup tables; `router.match(...)` runs on every request.
 */

export type { CompiledRoute, HeaderEditor, RouteMatchResult, RouteParams, Router } from './types.js';
export { candidateOrder, compileRouter, normalizeHost } from './router.js';
