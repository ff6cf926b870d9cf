/**
 * `brisk config push FILE`: checks a config store document (`routes`, `upstreams`,
 * `defaults`) the way every node will — combined with the node's config file, through the
 * same loader, with the same messages — and only then writes it to etcd, with a
 * compare-and-swap on the revision it read, so two pushes racing cannot overwrite each
 * other unseen. Every node watching the key reloads it; each reports the revision it
 * serves (`GET /api/status` → `configStore`, metric `brisk_config_revision`).
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { formatProblem, loadConfig, parseConfigText } from '../config/load.js';
import { EtcdClient } from '../etcd/client.js';
import { combine } from '../providers/config-store/document.js';

export interface PushOptions {
  /** The node's config file: its `configStore` says where, its other keys are checked with the document. */
  readonly config: string;
  /** etcd endpoints instead of the config's (comma-separated). */
  readonly etcd?: string;
  readonly key?: string;
  /** Check only; write nothing. */
  readonly dryRun?: boolean;
}

const MINIMAL_NODE_CONFIG = 'listen: [{ address: "127.0.0.1:8080" }]\nupstreams: {}\nroutes: []\n';

interface Out {
  write(s: string): unknown;
}

/** Runs `brisk config push`; resolves to the exit code (0 published or unchanged, 1 refused, 2 usage). */
export async function runConfigPush(file: string | undefined, options: PushOptions, stdout: Out, stderr: Out): Promise<number> {
  if (file === undefined) {
    stderr.write('brisk config push: which file? `brisk config push routes.yaml [--config brisk.yaml] [--etcd URL,URL] [--key /brisk/config] [--dry-run]`\n');
    return 2;
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    stderr.write(`brisk config push: cannot read ${file}: ${(err as Error).message}\n`);
    return 1;
  }
  // Without a node config (a CI job that only has the document and --etcd), the document is
  // checked against a minimal one: everything but the listeners' own settings still applies.
  const nodeText = existsSync(options.config) || options.etcd === undefined ? null : MINIMAL_NODE_CONFIG;
  const node = nodeText === null ? await loadConfig(options.config) : parseConfigText(nodeText, options.config);
  if (!node.ok) {
    stderr.write(`brisk config push: the node config ${options.config} has ${node.problems.length} problem(s); the document is checked against it:\n${node.problems.map(formatProblem).join('\n')}\n`);
    return 1;
  }
  const store = node.config.configStore;
  const endpoints = options.etcd?.split(',').map((e) => e.trim()).filter((e) => e !== '') ?? store?.etcd.endpoints;
  const key = options.key ?? store?.etcd.key ?? '/brisk/config';
  if (endpoints === undefined || endpoints.length === 0) {
    stderr.write(`brisk config push: ${options.config} has no configStore.etcd.endpoints; give --etcd http://host:2379\n`);
    return 2;
  }
  const checked = combine(options.config, nodeText ?? (await readFile(options.config, 'utf8')), { text, revision: 0, from: 'etcd' }, key, file);
  if (!checked.ok) {
    stderr.write(`brisk config push: ${checked.problems.length} problem(s); nothing was published:\n${checked.problems.map(formatProblem).join('\n')}\n`);
    return 1;
  }
  for (const w of checked.warnings) stderr.write(`warning: ${formatProblem(w)}\n`);
  if (options.dryRun === true) {
    stdout.write(`${file}: valid (${checked.config.routes.length} routes, ${Object.keys(checked.config.upstreams).length} upstreams); not published (--dry-run)\n`);
    return 0;
  }
  const etcd = new EtcdClient({ endpoints, timeoutMs: store?.etcd.timeoutMs ?? 2000 });
  try {
    const current = await etcd.get(key);
    if (current !== null && current.value === text) {
      stdout.write(`${key}: unchanged at revision ${current.modRevision}\n`);
      return 0;
    }
    const revision = await etcd.putIfUnchanged(key, text, current?.modRevision ?? 0);
    if (revision === null) {
      stderr.write(`brisk config push: ${key} changed while this push was checked (someone else pushed); run it again\n`);
      return 1;
    }
    stdout.write(`${key}: published revision ${revision} (${checked.config.routes.length} routes, ${Object.keys(checked.config.upstreams).length} upstreams)\n`);
    return 0;
  } catch (err) {
    stderr.write(`brisk config push: ${(err as Error).message}\n`);
    return 1;
  }
}
