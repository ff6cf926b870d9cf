/**
 * The WebSocket side: frames in and out for customers (`/support/ws`) and agents
 * (`/support/agent/ws`), with the `ws` package (frames, masking, ping/pong, limits).
 * Every frame is JSON; anything else gets an `error` frame, never a crash. The first
 * frame is a `hello`: a customer's carries the conversation to resume and, optionally,
 * the shop's token (browsers cannot set headers on a WebSocket); an agent's carries the
 * agent token, checked in constant time.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from '@brisk/service';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Language } from '../bot/faq.js';
import type { SupportErrorCode } from '../errors.js';
import type { AgentKeys } from './agents.js';
import type { Conversation, Hub, Send } from './hub.js';

/** Longest message a customer or agent may send (characters). */
export const MAX_TEXT = 2000;
/** Frames per socket per 10 s beyond which frames are refused (flooding). */
export const MAX_FRAMES_PER_10S = 30;

export interface SocketOptions {
  hub: Hub;
  log: Logger;
  /** The agents' tokens (personal and shared). */
  agents: AgentKeys;
}

/** Creates the two WebSocket servers (no listener of their own: the service hands them upgrades). */
export function chatSockets(options: SocketOptions): { customers: WebSocketServer; agents: WebSocketServer; closeAll(): Promise<void> } {
  const customers = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 });
  const agents = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 });
  customers.on('connection', (ws, req) => customerSocket(ws, req, options));
  agents.on('connection', (ws) => agentSocket(ws, options));
  const closeAll = async () => {
    for (const ws of [...customers.clients, ...agents.clients]) ws.close(1001, 'support service restarting');
    await new Promise((r) => setTimeout(r, 200));
    for (const ws of [...customers.clients, ...agents.clients]) ws.terminate();
  };
  return { customers, agents, closeAll };
}

function sender(ws: WebSocket): Send {
  return (frame) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
  };
}

/** Parses a frame: a JSON object with a string `type`, or an error text for the client. */
function parse(data: RawData, isBinary: boolean): Record<string, unknown> | string {
  if (isBinary) return 'send JSON text frames';
  let value: unknown;
  try {
    value = JSON.parse(data.toString());
  } catch {
    return 'the frame is not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof (value as { type?: unknown }).type !== 'string') return 'a frame is a JSON object with a "type"';
  return value as Record<string, unknown>;
}

/** A text field: trimmed, non-empty, at most MAX_TEXT characters; else an error text. */
function textOf(frame: Record<string, unknown>): string | { error: string } {
  const text = frame['text'];
  if (typeof text !== 'string' || text.trim() === '') return { error: '"text" must be a non-empty string' };
  if (text.length > MAX_TEXT) return { error: `"text" is longer than ${MAX_TEXT} characters` };
  return text.trim();
}

/** A token field as an `Authorization` value, or undefined (absent, empty, not a string, absurdly long). */
function tokenOf(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' && value.length < 4096 ? `Bearer ${value}` : undefined;
}

function limiter(): () => boolean {
  let windowStart = Date.now();
  let count = 0;
  return () => {
    const now = Date.now();
    if (now - windowStart >= 10_000) {
      windowStart = now;
      count = 0;
    }
    return ++count <= MAX_FRAMES_PER_10S;
  };
}

function customerSocket(ws: WebSocket, req: IncomingMessage, { hub, log }: SocketOptions): void {
  const send = sender(ws);
  const allow = limiter();
  const error = (code: SupportErrorCode, message: string) => send({ type: 'error', code, message });
  let conversation: Conversation | undefined;
  let queue = Promise.resolve();
  const headerAuth = typeof req.headers['authorization'] === 'string' ? req.headers['authorization'] : undefined;
  ws.on('message', (data, isBinary) => {
    if (!allow()) return error('SUPPORT_TOO_FAST', `more than ${MAX_FRAMES_PER_10S} frames in 10 s; slow down`);
    const frame = parse(data, isBinary);
    if (typeof frame === 'string') return error('SUPPORT_BAD_FRAME', frame);
    if (frame['type'] === 'hello') {
      if (conversation !== undefined) return error('SUPPORT_BAD_FRAME', 'hello was already sent');
      const token = tokenOf(frame['token']);
      const language: Language = frame['language'] === 'zh' ? 'zh' : 'en';
      const authorization = token ?? headerAuth;
      conversation = hub.connectCustomer(send, { ...(typeof frame['conversation'] === 'string' ? { conversation: frame['conversation'] } : {}), language, ...(authorization ? { asker: { authorization } } : {}) });
      return;
    }
    if (conversation === undefined) return error('SUPPORT_BAD_FRAME', 'send {"type":"hello"} first');
    const c = conversation;
    if (frame['type'] === 'message') {
      const text = textOf(frame);
      if (typeof text !== 'string') return error('SUPPORT_BAD_FRAME', text.error);
      // The shopper may sign in or out while the chat is open: a message may carry the
      // token in force now (null: signed out), which the next order lookup uses.
      if ('token' in frame) {
        const token = tokenOf(frame['token']);
        const authorization = token ?? headerAuth;
        c.asker = authorization === undefined ? {} : { authorization };
      }
      // One message at a time per socket, in order: the bot may wait on the orders service.
      queue = queue.then(() => hub.customerMessage(c, text)).catch((e: unknown) => {
        log.error({ err: e instanceof Error ? e.message : String(e), conversation: c.id }, 'support: a customer message failed');
        error('SUPPORT_INTERNAL', 'something went wrong; please try again');
      });
      return;
    }
    if (frame['type'] === 'human') return hub.handOver(c, 'asked', c.messages.filter((m) => m.from === 'customer').at(-1)?.text ?? '(asked from the button)');
    if (frame['type'] === 'ping') return send({ type: 'pong' });
    error('SUPPORT_BAD_FRAME', `unknown frame type "${String(frame['type'])}"`);
  });
  ws.on('close', () => {
    if (conversation !== undefined) hub.disconnectCustomer(conversation, send);
  });
  ws.on('error', () => ws.terminate());
}

function agentSocket(ws: WebSocket, { hub, agents }: SocketOptions): void {
  const send = sender(ws);
  const allow = limiter();
  const error = (code: SupportErrorCode, message: string) => send({ type: 'error', code, message });
  let signedIn = false;
  // A socket that never signs in is not kept open.
  const helloTimer = setTimeout(() => {
    if (!signedIn) ws.close(4401, 'sign in within 10 s');
  }, 10_000);
  ws.on('message', (data, isBinary) => {
    if (!allow()) return error('SUPPORT_TOO_FAST', `more than ${MAX_FRAMES_PER_10S} frames in 10 s; slow down`);
    const frame = parse(data, isBinary);
    if (typeof frame === 'string') return error('SUPPORT_BAD_FRAME', frame);
    if (!signedIn) {
      if (frame['type'] !== 'hello') return error('SUPPORT_BAD_FRAME', 'send {"type":"hello","token","name"} first');
      const who = typeof frame['token'] === 'string' ? agents.check(frame['token']) : undefined;
      if (who === undefined) {
        error('SUPPORT_AGENT_TOKEN', 'the agent token is wrong');
        ws.close(4401, 'wrong agent token');
        return;
      }
      // A personal token is the agent: the name bound to it, whatever the page sends.
      const name = who.name ?? (typeof frame['name'] === 'string' && frame['name'].trim() !== '' ? frame['name'].trim().slice(0, 40) : 'Agent');
      signedIn = true;
      clearTimeout(helloTimer);
      send({ type: 'welcome', name });
      hub.connectAgent(send, name);
      return;
    }
    const id = typeof frame['conversation'] === 'string' ? frame['conversation'] : '';
    let problem: string | undefined;
    if (frame['type'] === 'join') problem = hub.join(send, id);
    else if (frame['type'] === 'leave') problem = hub.leave(send, id);
    else if (frame['type'] === 'message') {
      const text = textOf(frame);
      problem = typeof text === 'string' ? hub.agentMessage(send, id, text) : text.error;
    } else if (frame['type'] === 'ping') send({ type: 'pong' });
    else problem = `unknown frame type "${String(frame['type'])}"`;
    if (problem !== undefined) error('SUPPORT_BAD_FRAME', problem);
  });
  ws.on('close', () => {
    clearTimeout(helloTimer);
    if (signedIn) hub.disconnectAgent(send);
  });
  ws.on('error', () => ws.terminate());
}
