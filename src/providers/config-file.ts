/**
 * The config file as a source: read and checked on demand, watched for changes. The
 * control plane reloads when it says the file changed; other providers (the admin API,
 * the supervisor, discovery) feed upstream target sets beside it.
 */
import { createHash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { loadConfig, parseConfigText, type ConfigResult } from '../config/load.js';
import type { Logger } from '../observability/logger.js';

/** Where the control plane reads the config from: the file, or the file and a config store. */
export interface ConfigSource {
  /** The config file (messages name it). */
  readonly file: string;
  /** Reads and checks the config; never rejects. */
  load(): Promise<ConfigResult>;
  /** The config `load()` last returned is in force now. */
  markApplied(): void;
  /** Calls `onChange` when the config may have changed. */
  watch(onChange: () => void): void;
  /** Stops watching; the promise settles once what it was writing (a snapshot) is on disk. */
  close(): Promise<void> | void;
  /** The texts the last successful `load()` checked (data-plane workers check the same); null before one. */
  inputs(): ConfigInputs | null;
}

/**
 * What a config is made from, as plain text: the file, and the config store's document
 * when the file names one. A data-plane worker builds its config from these, so it runs
 * exactly what the primary checked even if the file changed since.
 */
export interface ConfigInputs {
  readonly fileText: string;
  /** The store document layered over the file, and its key; null: the file alone. */
  readonly store: { readonly key: string; readonly text: string; readonly revision: number; readonly from: 'etcd' | 'snapshot' } | null;
}

export class ConfigFileSource implements ConfigSource {
  private digest = '';
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly file: string,
    private readonly logger: Logger,
  ) {}

  /**
   * The text of the last successful `load` (null before one): data-plane workers check the
   * very text the control plane checked, so a file changed in between cannot split them.
   */
  lastText: string | null = null;

  inputs(): ConfigInputs | null {
    return this.lastText === null ? null : { fileText: this.lastText, store: null };
  }

  /** Reads and checks the file; never rejects (an unreadable file is a problem like any other). */
  async load(): Promise<ConfigResult> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch {
      // loadConfig words the read error (not found, permission denied) as a positioned problem.
      return loadConfig(this.file);
    }
    const result = parseConfigText(text, this.file);
    if (result.ok) this.lastText = text;
    return result;
  }

  /** Remembers the file's content as the one in force: a change event for the same bytes is ignored. */
  markApplied(): void {
    this.digest = fileDigest(this.file);
  }

  /**
   * Calls `onChange` (debounced by 200 ms) when the file's content changes. Watches the
   * directory, not the file: editors and config management replace the file (write to a
   * temp name, rename over), which a watch on the old inode would miss. Touch, chmod and
   * the like leave the content alone and are ignored.
   */
  watch(onChange: () => void): void {
    const name = basename(this.file);
    try {
      this.watcher = watch(dirname(this.file), { persistent: false }, (_event, changed) => {
        if (changed !== null && changed !== name) return;
        if (this.timer !== null) clearTimeout(this.timer);
        this.timer = setTimeout(() => {
          this.timer = null;
          if (fileDigest(this.file) === this.digest) return;
          this.logger.info({ file: this.file }, 'config file changed; reloading');
          onChange();
        }, 200);
      });
      this.watcher.on('error', (err) => this.logger.warn({ err }, 'config file watch failed; use SIGHUP or POST /api/reload'));
    } catch (err) {
      this.logger.warn({ err }, 'cannot watch the config file; use SIGHUP or POST /api/reload');
    }
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.watcher?.close();
    this.watcher = null;
  }
}

function fileDigest(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return '';
  }
}
