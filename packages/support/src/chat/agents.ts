/**
 * Who may sign in on the agent page, and as whom. Two kinds of token:
 *
 * - **personal** (`SUPPORT_AGENT_TOKENS=lin:TOKEN,wei:TOKEN`): the token is the agent; the
 *   name shown to customers and in the transcript is the one bound to it, not one the page
 *   sends, so what an agent said can be told apart from what another said;
 * - **shared** (`SUPPORT_AGENT_TOKEN`): one secret for a small team; each agent types the
 *   name to show.
 *
 * Tokens are compared in constant time, every one of them for every attempt (the time
 * taken does not say which token came close).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Shortest personal token accepted: a guessable one would let anyone speak as that agent. */
export const MIN_TOKEN_LENGTH = 12;

/** Compares two secrets in constant time (of their digests: lengths may differ). */
export function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * Parses `name:token,name:token` (the value of `SUPPORT_AGENT_TOKENS`).
 * @throws Error naming the entry to fix: no colon, an empty name, a short token, a name twice.
 */
export function parseAgentTokens(text: string): Record<string, string> {
  const agents: Record<string, string> = {};
  for (const entry of text.split(',').map((e) => e.trim()).filter((e) => e !== '')) {
    const colon = entry.indexOf(':');
    const name = colon === -1 ? '' : entry.slice(0, colon).trim();
    const token = colon === -1 ? '' : entry.slice(colon + 1).trim();
    if (name === '' || name.length > 40) throw new Error(`SUPPORT_AGENT_TOKENS: "${entry.slice(0, colon === -1 ? 20 : colon)}…" is not name:token (a name of 1 to 40 characters, a colon, the token)`);
    if (token.length < MIN_TOKEN_LENGTH) throw new Error(`SUPPORT_AGENT_TOKENS: the token of ${name} is shorter than ${MIN_TOKEN_LENGTH} characters; use a long random one (openssl rand -base64 18)`);
    if (name in agents) throw new Error(`SUPPORT_AGENT_TOKENS: ${name} is named twice`);
    agents[name] = token;
  }
  return agents;
}

/** The tokens of the agents: personal ones, and the shared one. */
export class AgentKeys {
  readonly #personal: [name: string, token: string][];
  readonly #shared: string | undefined;

  constructor(shared: string | undefined, personal: Record<string, string> = {}) {
    this.#shared = shared === '' ? undefined : shared;
    this.#personal = Object.entries(personal);
    if (this.#shared === undefined && this.#personal.length === 0) throw new Error('support: no agent token: set SUPPORT_AGENT_TOKEN (one shared secret) or SUPPORT_AGENT_TOKENS (name:token,… one per agent)');
  }

  /**
   * Who `token` signs in as: `{ name }` for a personal token, `{ name: null }` for the
   * shared one (the agent chooses the name shown), undefined when it is none of them.
   */
  check(token: string): { name: string | null } | undefined {
    let found: { name: string | null } | undefined;
    for (const [name, personal] of this.#personal) if (sameSecret(token, personal) && found === undefined) found = { name };
    if (this.#shared !== undefined && sameSecret(token, this.#shared) && found === undefined) found = { name: null };
    return found;
  }
}
