/**
 * The config as the file and, when it has `configStore`, etcd make it: the source the
 * control plane reloads from (the file alone otherwise).
 *
 * - At start the store is read once, bounded by its timeout. etcd down: the snapshot on
 *   disk (the last document this node applied) serves, so a node starts and restarts
 *   while etcd is down (APISIX could not: apache/apisix#3878, #5115). Neither: the
 *   file's own routes and upstreams serve, and a warning says so.
 * - Then the key is watched. A new revision triggers a reload through the control plane
 *   (serialised with file changes, SIGHUP and the admin API); a bad one is refused with
 *   the loader's messages, placed in the document, and the one in force keeps serving.
 *   When the watch breaks (etcd down), it is re-opened with backoff from a fresh read, so
 *   a revision written during the outage is picked up when etcd is back (APISIX kept
 *   stale upstreams: apache/apisix#11144).
 * - Once applied, a document and its revision are written to the snapshot (atomically).
 */
import { readFile } from 'node:fs/promises';
import type { EtcdClient } from '../../etcd/client.js';
import { formatProblem, type ConfigResult } from '../../config/load.js';
import type { Logger } from '../../observability/logger.js';
import type { ConfigRevisionSnapshot } from '../../observability/snapshot.js';
import { ConfigFileSource, type ConfigInputs, type ConfigSource } from '../config-file.js';
import { combine, documentLabel, type StoreDocument } from './document.js';
import type { ConfigStoreConfig } from './schema.js';
import { readStoreSnapshot, writeStoreSnapshot } from './snapshot.js';

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;
/**
 * While a watch is open, the key is also read this often. A watch stream that a network
 * fault cut without a reset (a black hole, a half-open connection) says nothing, and a
 * node would keep an old revision for ever; the read notices the silence and a missed
 * revision, and keeps `storeUp` honest.
 */
export const CHECK_MS = 5000;

/** The file, and the config store when the file names one. */
export class LayeredConfigSource implements ConfigSource {
  private readonly fileSource: ConfigFileSource;
  private store: ConfigStoreConfig | null = null;
  private client: EtcdClient | null = null;
  /** The newest document seen (etcd or snapshot); null: none. */
  private latest: StoreDocument | null = null;
  /** The document of the config `load()` last returned. */
  private candidate: StoreDocument | null = null;
  /** The document in force (null: the file's own routes). */
  private applied: StoreDocument | null = null;
  private appliedAt: Date | null = null;
  /**
   * Snapshot writes, one after another: two in flight could land out of order (an older
   * revision renamed over a newer one), and a stop must not lose the last one (a restart
   * would come up from the revision before).
   */
  private snapshotWrites: Promise<void> = Promise.resolve();
  private rejected: { revision: number; at: Date } | null = null;
  private etcdUp = false;
  private lastContact = 0;
  private onChange: (() => void) | null = null;
  private stopWatch: (() => void) | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private checkTimer: NodeJS.Timeout | null = null;
  private retryMs = RETRY_MIN_MS;
  private closed = false;

  constructor(
    readonly file: string,
    private readonly logger: Logger,
  ) {
    this.fileSource = new ConfigFileSource(file, logger);
  }

  /** The texts of the config `load()` last returned: the file's, and the document layered over it. */
  inputs(): ConfigInputs | null {
    return this.candidateInputs;
  }

  private candidateInputs: ConfigInputs | null = null;

  async load(): Promise<ConfigResult> {
    const base = await this.fileSource.load();
    if (!base.ok) return base;
    const store = base.config.configStore;
    if (store === undefined) {
      this.candidate = null;
      this.candidateInputs = this.fileSource.inputs();
      return base;
    }
    if (this.store === null) await this.open(store);
    const doc = this.latest;
    if (doc === null) {
      this.candidate = null;
      this.candidateInputs = this.fileSource.inputs();
      return base;
    }
    // The very text the file's load checked (reading it again could see a newer one).
    const fileText = this.fileSource.inputs()?.fileText ?? (await readFile(this.file, 'utf8'));
    const result = combine(this.file, fileText, doc, store.etcd.key);
    if (result.ok) {
      this.candidate = doc;
      this.candidateInputs = { fileText, store: { key: store.etcd.key, text: doc.text, revision: doc.revision, from: doc.from } };
      return result;
    }
    this.rejected = { revision: doc.revision, at: new Date() };
    // The control plane logs the problems themselves ("reload rejected"); this names the revision.
    this.logger.warn({ code: 'BRISK_CONFIG_STORE_REVISION_REFUSED', revision: doc.revision, key: store.etcd.key }, `config store: revision ${doc.revision} refused; the revision in force keeps serving`);
    // At start nothing serves yet: the last document this node applied does, if it is good.
    if (this.applied === null) {
      const snap = await readStoreSnapshot(store.snapshot, store.etcd.key);
      if (snap !== null && !('ignored' in snap) && snap.revision !== doc.revision) {
        const fallback = combine(this.file, fileText, snap, store.etcd.key);
        if (fallback.ok) {
          this.candidateInputs = { fileText, store: { key: store.etcd.key, text: snap.text, revision: snap.revision, from: snap.from } };
          this.logger.error({ code: 'BRISK_CONFIG_STORE_REVISION_REFUSED', problems: result.problems.map(formatProblem) }, `config store: revision ${doc.revision} is invalid; starting with the snapshot's revision ${snap.revision}`);
          this.candidate = snap;
          return fallback;
        }
      }
    }
    return result;
  }

  markApplied(): void {
    this.fileSource.markApplied();
    const doc = this.candidate;
    if (doc === this.applied) return;
    this.applied = doc;
    this.appliedAt = new Date();
    if (doc === null || this.store === null) return;
    if (this.rejected !== null && this.rejected.revision <= doc.revision) this.rejected = null;
    this.logger.info({ revision: doc.revision, from: doc.from, key: this.store.etcd.key }, 'config store: revision in force');
    if (doc.from === 'etcd') {
      const { snapshot, etcd } = this.store;
      this.snapshotWrites = this.snapshotWrites
        .then(() => writeStoreSnapshot(snapshot, { key: etcd.key, revision: doc.revision, text: doc.text }))
        .catch((err: unknown) => this.logger.warn({ code: 'BRISK_CONFIG_STORE_SNAPSHOT_FAILED', err, file: snapshot }, 'config store: cannot write the snapshot; serving goes on'));
    }
  }

  watch(onChange: () => void): void {
    this.fileSource.watch(onChange);
    this.onChange = onChange;
    if (this.store === null) return;
    this.watchFrom(this.latest?.from === 'etcd' ? this.latest.revision + 1 : 0);
    this.checkTimer = setInterval(() => this.check(), CHECK_MS);
    this.checkTimer.unref();
  }

  /** The safety read next to an open watch (see {@link CHECK_MS}). */
  private check(): void {
    if (this.closed || this.stopWatch === null || this.client === null || this.store === null) return;
    const watching = this.stopWatch;
    this.client.getWithRevision(this.store.etcd.key).then(
      ({ kv }) => {
        this.contact();
        if (kv !== null) this.offer({ text: kv.value, revision: kv.modRevision, from: 'etcd' });
      },
      (err: unknown) => {
        // The watch may be a dead stream: drop it and start over with backoff.
        if (this.stopWatch !== watching) return;
        watching();
        this.retry(err as Error);
      },
    );
  }

  /** Which revision this node serves, for the admin API and /metrics. */
  revision(): ConfigRevisionSnapshot | null {
    if (this.store === null) return null;
    return {
      key: this.store.etcd.key,
      source: this.applied === null ? 'file' : this.applied.from,
      revision: this.applied?.revision ?? 0,
      appliedAt: this.appliedAt?.toISOString() ?? null,
      latestSeen: this.latest?.revision ?? 0,
      rejectedRevision: this.rejected?.revision ?? null,
      storeUp: this.etcdUp,
      stalenessS: this.lastContact === 0 ? null : Math.round((Date.now() - this.lastContact) / 100) / 10,
    };
  }

  close(): Promise<void> {
    this.closed = true;
    this.fileSource.close();
    this.stopWatch?.();
    this.stopWatch = null;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.checkTimer !== null) clearInterval(this.checkTimer);
    return this.snapshotWrites;
  }

  // ---- the store ----------------------------------------------------------------------

  /** First read: etcd within its timeout, else the snapshot. */
  private async open(store: ConfigStoreConfig): Promise<void> {
    this.store = store;
    // Loaded here, not at the top: a config without `configStore` loads no etcd code.
    const { EtcdClient } = await import('../../etcd/client.js');
    this.client = new EtcdClient({ endpoints: store.etcd.endpoints, timeoutMs: store.etcd.timeoutMs });
    try {
      const kv = await this.client.get(store.etcd.key);
      this.contact();
      if (kv !== null) this.latest = { text: kv.value, revision: kv.modRevision, from: 'etcd' };
      else this.logger.warn({ key: store.etcd.key }, 'config store: the key is empty; the file\'s routes and upstreams serve until `brisk config push` writes it');
      return;
    } catch (err) {
      this.etcdUp = false;
      this.logger.warn({ code: 'BRISK_CONFIG_STORE_UNAVAILABLE', reason: (err as Error).message }, 'config store: etcd unreachable at start; trying the snapshot');
    }
    const snap = await readStoreSnapshot(store.snapshot, store.etcd.key);
    if (snap === null) this.logger.warn({ file: store.snapshot }, "config store: no snapshot either; the file's routes and upstreams serve until etcd answers");
    else if ('ignored' in snap) this.logger.warn({ code: 'BRISK_CONFIG_STORE_SNAPSHOT_FAILED', file: store.snapshot, reason: snap.ignored }, 'config store: snapshot ignored');
    else {
      this.latest = snap;
      this.logger.info({ revision: snap.revision, savedAt: snap.savedAt }, 'config store: starting from the snapshot (last known good)');
    }
  }

  private contact(): void {
    if (!this.etcdUp) this.logger.info({ endpoints: this.store?.etcd.endpoints }, 'config store: etcd reachable');
    this.etcdUp = true;
    this.lastContact = Date.now();
    this.retryMs = RETRY_MIN_MS;
  }

  /** Watches from `revision` (0: read first, then watch from the read). */
  private watchFrom(revision: number): void {
    if (this.closed || this.client === null || this.store === null) return;
    const client = this.client;
    const key = this.store.etcd.key;
    if (revision === 0) {
      client.getWithRevision(key).then(
        ({ kv, revision: clusterRevision }) => {
          this.contact();
          if (kv !== null) this.offer({ text: kv.value, revision: kv.modRevision, from: 'etcd' });
          this.watchFrom(clusterRevision + 1);
        },
        (err: unknown) => this.retry(err as Error),
      );
      return;
    }
    this.stopWatch = client.watch(
      key,
      revision,
      (events) => {
        this.contact();
        const last = events.at(-1)!;
        if (last.type === 'put') this.offer({ text: last.kv.value, revision: last.kv.modRevision, from: 'etcd' });
        else this.logger.warn({ key }, 'config store: the key was deleted; the revision in force keeps serving');
      },
      (err) => this.retry(err),
    );
    // The watch only speaks on changes: a successful open counts as contact.
    this.contact();
  }

  private retry(err: Error): void {
    this.stopWatch = null;
    if (this.closed) return;
    if (this.etcdUp) this.logger.warn({ code: 'BRISK_CONFIG_STORE_UNAVAILABLE', reason: err.message }, 'config store: lost etcd; the revision in force keeps serving, retrying');
    this.etcdUp = false;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.watchFrom(0);
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  /** A document from etcd: a new revision triggers a reload. */
  private offer(doc: StoreDocument): void {
    const current = this.latest;
    if (current !== null && current.from === 'etcd' && current.revision >= doc.revision) return;
    if (current !== null && current.text === doc.text && this.applied !== null && this.applied.text === doc.text) {
      // The same text (a snapshot confirmed by etcd): adopt the revision without a reload.
      this.latest = doc;
      this.applied = doc;
      return;
    }
    this.latest = doc;
    this.logger.info({ revision: doc.revision, document: documentLabel(this.store?.etcd.key ?? '', doc.revision) }, 'config store: new revision; reloading');
    this.onChange?.();
  }
}
