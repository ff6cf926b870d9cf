/**
 * Where an instance's stdout and stderr go: Brisk's log, one entry per line with the
 * service, instance and pid named (stdout at info, stderr at warn), and optionally a file
 * with rotation (`output.file`), one line each with the time, `service#instance` and the
 * stream. The file is the access log's `RotatingFile` (sonic-boom, no line lost on
 * rotation), shared by the service's instances, or one per instance with `{instance}`.
 */
import type { Readable } from 'node:stream';
import { RotatingFile } from '../observability/log-file.js';
import type { Logger } from '../observability/logger.js';
import type { OutputConfig } from './config/types.js';

/** Longer lines are cut: a runaway line (a dumped buffer) must not become one huge log entry. */
const MAX_LINE = 16 * 1024;

/**
 * The output of one service's instances.
 *
 * @example
 * const out = new ServiceOutput('products', config.output, logger);
 * out.attach(child.stdout!, 3, child.pid!, 'stdout');
 * await out.close();
 */
export class ServiceOutput {
  private readonly files = new Map<string, RotatingFile>();

  constructor(
    private readonly service: string,
    private config: OutputConfig,
    private readonly logger: Logger,
  ) {}

  /** A reload may change where output goes; files no longer named are closed. */
  reconfigure(config: OutputConfig): void {
    const same = config.file === this.config.file && config.maxSize === this.config.maxSize && config.maxFiles === this.config.maxFiles && config.daily === this.config.daily;
    this.config = config;
    if (!same) void this.closeFiles();
  }

  /** Reads `stream` line by line until it ends. */
  attach(stream: Readable, instance: number, pid: number, name: 'stdout' | 'stderr'): void {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const text = partial + chunk;
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      if (partial.length > MAX_LINE) {
        lines.push(partial);
        partial = '';
      }
      for (const line of lines) this.line(line, instance, pid, name);
    });
    stream.on('end', () => {
      if (partial !== '') this.line(partial, instance, pid, name);
      partial = '';
    });
    // A pipe error (the process is gone) ends the output; nothing to report beyond its exit.
    stream.on('error', () => {});
  }

  private line(raw: string, instance: number, pid: number, name: 'stdout' | 'stderr'): void {
    const line = (raw.endsWith('\r') ? raw.slice(0, -1) : raw).slice(0, MAX_LINE);
    if (line === '') return;
    if (this.config.log) {
      const fields = { service: this.service, instance, pid, stream: name };
      if (name === 'stderr') this.logger.warn(fields, line);
      else this.logger.info(fields, line);
    }
    const file = this.fileFor(instance);
    file?.write(`${new Date().toISOString()} ${this.service}#${instance} ${name} ${line}\n`);
  }

  private fileFor(instance: number): RotatingFile | null {
    const pattern = this.config.file;
    if (pattern === null) return null;
    const path = pattern.replaceAll('{instance}', String(instance));
    let file = this.files.get(path);
    if (file === undefined) {
      file = new RotatingFile(path, { maxSize: this.config.maxSize, maxFiles: this.config.maxFiles, daily: this.config.daily }, (err, what) =>
        this.logger.warn({ service: this.service, file: path, err }, `service ${this.service}: ${what}`),
      );
      this.files.set(path, file);
    }
    return file;
  }

  /** A per-instance file is closed when its instance is gone. */
  instanceGone(instance: number): void {
    const pattern = this.config.file;
    if (pattern === null || !pattern.includes('{instance}')) return;
    const path = pattern.replaceAll('{instance}', String(instance));
    const file = this.files.get(path);
    if (file === undefined) return;
    this.files.delete(path);
    file.flushSync();
    void file.close();
  }

  /** Flushes and closes the files. */
  close(): Promise<void> {
    return this.closeFiles();
  }

  private async closeFiles(): Promise<void> {
    const files = [...this.files.values()];
    this.files.clear();
    for (const f of files) f.flushSync();
    await Promise.all(files.map((f) => f.close()));
  }
}
