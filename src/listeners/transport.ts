/**
 * Which server reads a plain listener's HTTP/1.1 connections. Kept apart from the lean
 * server itself (`h1/`), which is imported only when a listener uses it.
 */

/** node:http alone, or the lean server in front of it (`h1/`). */
export type ServerTransport = 'node' | 'lean';

/** The transport of a listener: its own `transport`, else the environment variable BRISK_SERVER_TRANSPORT, else node. */
export function serverTransport(configured: ServerTransport | undefined, env: NodeJS.ProcessEnv = process.env): ServerTransport {
  return configured ?? (env.BRISK_SERVER_TRANSPORT === 'lean' ? 'lean' : 'node');
}
