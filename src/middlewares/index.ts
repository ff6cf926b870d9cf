/**
 * Route middlewares: one folder each, each registered by one descriptor (descriptor.ts,
 * registry.ts); the pipeline is built from the registry (pipeline.ts). This module
 * exports what the gateway needs and loads no middleware implementation.
 */
export { defineMiddleware, type AnyMiddlewareDescriptor, type BuildContext, type MiddlewareDeps, type MiddlewareDescriptor, type MiddlewareRegistry, type RouteFacts } from './descriptor.js';
export { buildPipeline, loadMiddlewares, MiddlewareCache, pipelineOrder } from './pipeline.js';
export { MIDDLEWARES, type MiddlewareKey } from './registry.js';
