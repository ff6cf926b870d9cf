/**
 * A Node client of the customer WebSocket, for scripts, load tests and game days: it says
 * hello, then `ask(text)` sends a message and resolves with the next answer (the bot's or
 * an agent's), with the time it took.
 *
 * @example
 * const chat = await SupportClient.connect('ws://127.0.0.1:8080/support/ws', { language: 'zh', token });
 * const { text, ms } = await chat.ask('我的订单 1024 到哪了？');
 * chat.close();
 */
import WebSocket from 'ws';

/** One answer to `ask`. */
export interface ChatAnswer {
  from: 'bot' | 'agent';
  text: string;
  /** Milliseconds from sending to the answer. */
  ms: number;
  /** Set when the bot handed the conversation to a person (then the bot stays quiet until an agent gives it back). */
  handoff?: string;
  /** The frame as received. */
  frame: Record<string, unknown>;
}

export class SupportClient {
  readonly conversation: string;
  readonly #ws: WebSocket;
  #waiting: { resolve: (a: ChatAnswer) => void; reject: (e: Error) => void; started: number; timer: NodeJS.Timeout } | undefined;

  private constructor(ws: WebSocket, conversation: string) {
    this.#ws = ws;
    this.conversation = conversation;
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Record<string, unknown>;
      const waiting = this.#waiting;
      if (waiting === undefined) return;
      if (frame['type'] === 'error') return this.#settle(undefined, new Error(`${String(frame['code'])}: ${String(frame['message'])}`));
      if (frame['type'] === 'message' && (frame['from'] === 'bot' || frame['from'] === 'agent')) {
        this.#settle({ from: frame['from'], text: String(frame['text']), ms: performance.now() - waiting.started, frame, ...(typeof frame['handoff'] === 'string' ? { handoff: frame['handoff'] } : {}) });
      }
    });
    ws.on('close', () => this.#settle(undefined, new Error('the chat socket closed')));
  }

  /** Opens a conversation (or resumes `conversation`). */
  static async connect(url: string, options: { language?: 'zh' | 'en'; token?: string; conversation?: string; timeoutMs?: number } = {}): Promise<SupportClient> {
    const ws = new WebSocket(url, { handshakeTimeout: options.timeoutMs ?? 10_000 });
    const conversation = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no welcome from ${url} within ${options.timeoutMs ?? 10_000} ms`)), options.timeoutMs ?? 10_000);
      ws.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      ws.once('open', () => ws.send(JSON.stringify({ type: 'hello', language: options.language ?? 'en', ...(options.token ? { token: options.token } : {}), ...(options.conversation ? { conversation: options.conversation } : {}) })));
      ws.on('message', function first(data) {
        const frame = JSON.parse(data.toString()) as { type?: string; conversation?: string };
        if (frame.type !== 'welcome') return;
        clearTimeout(timer);
        ws.off('message', first);
        resolve(String(frame.conversation));
      });
    });
    return new SupportClient(ws, conversation);
  }

  /** Sends a message and resolves with the next bot or agent answer (one question at a time). */
  ask(text: string, timeoutMs = 10_000): Promise<ChatAnswer> {
    if (this.#waiting !== undefined) return Promise.reject(new Error('ask() is already waiting for an answer'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#settle(undefined, new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      this.#waiting = { resolve, reject, started: performance.now(), timer };
      this.#ws.send(JSON.stringify({ type: 'message', text }));
    });
  }

  close(): void {
    this.#ws.close();
  }

  #settle(answer: ChatAnswer | undefined, error?: Error): void {
    const waiting = this.#waiting;
    if (waiting === undefined) return;
    this.#waiting = undefined;
    clearTimeout(waiting.timer);
    if (answer !== undefined) waiting.resolve(answer);
    else waiting.reject(error ?? new Error('no answer'));
  }
}
