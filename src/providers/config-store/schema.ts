/**
 * The `configStore` key: routes, upstreams and defaults read from etcd beside the file,
 * watched, with a last-known-good copy on disk so a node starts while etcd is down.
 *
 * ```yaml
 * configStore:
 *   etcd: { endpoints: [http://10.0.0.11:2379, http://10.0.0.12:2379], key: /brisk/config }
 *   snapshot: /var/lib/brisk/config-store.json
 * ```
 *
 * Static: bound when the process starts (changing it needs a restart).
 */
import { resolve } from 'node:path';
import { Type, type Static } from '../../config/type-builder.js';
import type { PathProblem } from '../../config/positions.js';
import { Duration, Strict } from '../../config/schema-kit.js';
import { durationMs } from '../../config/units.js';

/** The keys a store document may hold; everything else stays in the file. */
export const STORE_KEYS = ['routes', 'upstreams', 'defaults'] as const;

export const ConfigStoreSchema = Strict(
  {
    etcd: Strict(
      {
        endpoints: Type.Array(Type.String({ pattern: '^https?://' }), { minItems: 1, maxItems: 32, description: 'etcd members: `http://host:2379` (the client URLs).' }),
        key: Type.Optional(Type.String({ minLength: 1, maxLength: 500, default: '/brisk/config', description: 'The key holding the YAML document (`routes`, `upstreams`, `defaults`); `brisk config push` writes it.' })),
        timeout: Type.Optional(Duration('Longest wait for one etcd call on one member.', '2s')),
      },
      'etcd v3 (its JSON gateway, on by default on the client port).',
    ),
    snapshot: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'File (relative to the config file) where the last document that was applied is kept with its revision, so a node starts with it while etcd is down. Default: `.brisk-config-store.json` beside the config file.',
      }),
    ),
  },
  'Routes, upstreams and defaults from etcd, beside the file: watched, checked like the file (a bad revision is refused with the same messages and the previous one keeps serving), and kept on disk as the last known good. The file keeps everything else (listeners, admin, logging). Without a document in etcd or a snapshot, the file\'s own routes and upstreams serve.',
);

export type RawConfigStore = Static<typeof ConfigStoreSchema>;

/** The normalised `configStore`. */
export interface ConfigStoreConfig {
  readonly etcd: { readonly endpoints: readonly string[]; readonly key: string; readonly timeoutMs: number };
  /** Absolute path of the snapshot file. */
  readonly snapshot: string;
}

/** Checks and normalises a schema-valid `configStore`; paths relative to the key. */
export function normalizeConfigStore(raw: RawConfigStore, baseDir: string): { config?: ConfigStoreConfig; problems: PathProblem[]; warnings: PathProblem[] } {
  const problems: PathProblem[] = [];
  let timeoutMs = 2000;
  if (raw.etcd.timeout !== undefined) {
    const ms = durationMs(raw.etcd.timeout);
    if (ms === undefined || ms < 10 || ms > 60_000) problems.push({ path: ['etcd', 'timeout'], message: 'the etcd timeout must be between 10ms and 1m' });
    else timeoutMs = ms;
  }
  raw.etcd.endpoints.forEach((e, i) => {
    try {
      new URL(e);
    } catch {
      problems.push({ path: ['etcd', 'endpoints', i], message: `invalid URL ${JSON.stringify(e)}` });
    }
  });
  if (problems.length > 0) return { problems, warnings: [] };
  return {
    config: {
      etcd: { endpoints: raw.etcd.endpoints, key: raw.etcd.key ?? '/brisk/config', timeoutMs },
      snapshot: resolve(baseDir, raw.snapshot ?? '.brisk-config-store.json'),
    },
    problems,
    warnings: [],
  };
}
