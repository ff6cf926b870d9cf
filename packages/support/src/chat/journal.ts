/**
 * The conversations on disk, so that a restart of the support service (a deploy, or the
 * supervisor replacing a hung instance) loses no transcript: a customer who reconnects
 * with their conversation id gets it back, and a handed-over conversation is still in
 * the agents' queue.
 *
 * One append-only file of JSON lines, each a change of one conversation:
 *
 * - `{"c":ID,"new":{language,createdAt}}` — a conversation began;
 * - `{"c":ID,"m":MESSAGE}` — a line of its transcript;
 * - `{"c":ID,"s":STATE,"language":…,"handoff":…,"at":MS}` — its state changed;
 * - `{"c":ID,"gone":1}` — it was forgotten.
 *
 * Writes are synchronous appends (a chat line is small and rare next to the socket
 * work; a synchronous write keeps the file in the order of the events and is in the
 * kernel when the call returns, so a crash of the process loses nothing). When the file
 * grows past `compactBytes` it is rewritten from what is held (a temporary file, then a
 * rename: a crash in between leaves the old file whole). A torn last line (a power cut) or
 * a corrupt one is skipped with a warning, never fatal.
 *
 * Not kept: the customer's authorisation (their JWT; it comes again with each
 * connection) and the bot's short-term memory of the conversation (the last order id
 * asked about): after a restart the bot asks again.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Language } from '../bot/faq.js';
import type { ChatMessage, Conversation, ConversationState, ConversationStore, StoredConversation } from './hub.js';

type Line =
  | { c: string; new: { language: Language; createdAt: number } }
  | { c: string; m: ChatMessage }
  | { c: string; s: ConversationState; language: Language; handoff: Conversation['handoff'] | null; at: number }
  | { c: string; gone: 1 };

export interface JournalOptions {
  /** Rewrite the file from what is held once it is larger than this (default 8 MiB). */
  compactBytes?: number;
  /** Longest transcript kept per conversation when reading back (the hub's limit). */
  maxMessages?: number;
  /** Told about skipped lines and failed writes. */
  warn?: (message: string) => void;
}

/** The conversations journal in `dir` (created if missing). */
export class ConversationJournal implements ConversationStore {
  readonly file: string;
  #fd: number;
  #bytes: number;
  readonly #compactBytes: number;
  readonly #maxMessages: number;
  readonly #warn: (message: string) => void;
  #failing = false;

  constructor(dir: string, options: JournalOptions = {}) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, 'conversations.jsonl');
    this.#compactBytes = options.compactBytes ?? 8 * 1024 * 1024;
    this.#maxMessages = options.maxMessages ?? 500;
    this.#warn = options.warn ?? (() => {});
    this.#fd = openSync(this.file, 'a');
    this.#bytes = statSync(this.file).size;
  }

  /** The conversations the file holds (in the order they began). */
  read(): StoredConversation[] {
    const held = new Map<string, StoredConversation>();
    const text = readFileSync(this.file, 'utf8');
    let lineNo = 0;
    let skipped = 0;
    for (const raw of text.split('\n')) {
      lineNo++;
      if (raw === '') continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        skipped++;
        continue;
      }
      if (typeof line !== 'object' || line === null || typeof line.c !== 'string') {
        skipped++;
        continue;
      }
      if ('new' in line) {
        held.set(line.c, { id: line.c, state: 'bot', language: line.new.language, messages: [], handoff: undefined, createdAt: line.new.createdAt, lastActivity: line.new.createdAt });
        continue;
      }
      if ('gone' in line) {
        held.delete(line.c);
        continue;
      }
      const c = held.get(line.c);
      if (c === undefined) continue; // its beginning was compacted away with it
      if ('m' in line) {
        c.messages.push(line.m);
        if (c.messages.length > this.#maxMessages) c.messages.splice(0, c.messages.length - this.#maxMessages);
        const at = Date.parse(line.m.at);
        if (at > c.lastActivity) c.lastActivity = at;
      } else if ('s' in line) {
        c.state = line.s;
        c.language = line.language;
        c.handoff = line.handoff ?? undefined;
        if (line.at > c.lastActivity) c.lastActivity = line.at;
      }
    }
    if (skipped > 0) this.#warn(`support: skipped ${skipped} unreadable line(s) of ${lineNo} in ${this.file} (a torn write at a crash); the rest of the conversations are back`);
    return [...held.values()];
  }

  began(c: Conversation): void {
    this.#write({ c: c.id, new: { language: c.language, createdAt: c.createdAt } });
  }

  said(c: Conversation, message: ChatMessage): void {
    this.#write({ c: c.id, m: message });
  }

  changed(c: Conversation): void {
    this.#write({ c: c.id, s: c.state, language: c.language, handoff: c.handoff ?? null, at: c.lastActivity });
  }

  forgot(id: string): void {
    this.#write({ c: id, gone: 1 });
  }

  /** Whether the file has grown past the bound (the hub then calls {@link compact}). */
  get oversized(): boolean {
    return this.#bytes > this.#compactBytes;
  }

  /** Rewrites the file from `conversations` (what the hub holds now). */
  compact(conversations: Iterable<Conversation>): void {
    const temp = `${this.file}.${process.pid}.tmp`;
    const fd = openSync(temp, 'w');
    let bytes = 0;
    try {
      for (const c of conversations) {
        bytes += writeSync(fd, lineOf({ c: c.id, new: { language: c.language, createdAt: c.createdAt } }));
        for (const m of c.messages) bytes += writeSync(fd, lineOf({ c: c.id, m }));
        bytes += writeSync(fd, lineOf({ c: c.id, s: c.state, language: c.language, handoff: c.handoff ?? null, at: c.lastActivity }));
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, this.file);
    closeSync(this.#fd);
    this.#fd = openSync(this.file, 'a');
    this.#bytes = bytes;
  }

  close(): void {
    closeSync(this.#fd);
  }

  #write(line: Line): void {
    try {
      this.#bytes += writeSync(this.#fd, lineOf(line));
      if (this.#failing) this.#warn(`support: writing ${this.file} works again`);
      this.#failing = false;
    } catch (error) {
      // A full disk must not stop the chat: it goes on in memory, and says so once.
      if (!this.#failing) this.#warn(`support: cannot write ${this.file} (${error instanceof Error ? error.message : String(error)}); conversations go on in memory and are lost at a restart until it works again`);
      this.#failing = true;
    }
  }
}

function lineOf(line: Line): string {
  return `${JSON.stringify(line)}\n`;
}
