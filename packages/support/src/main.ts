#!/usr/bin/env node
/**
 * Runs the support service from the environment:
 *
 *   PORT=7501 SUPPORT_ORDERS_URL=http://127.0.0.1:8080/api SUPPORT_AGENT_TOKEN=secret \
 *   SUPPORT_AGENT_WEBHOOK=http://127.0.0.1:7401/webhook SUPPORT_PUBLIC_URL=http://127.0.0.1:8080 \
 *   node packages/support/dist/src/main.js
 *
 * | variable | meaning | default |
 * |---|---|---|
 * | `PORT`, `HOST` | where it listens | any free port, 127.0.0.1 |
 * | `SUPPORT_ORDERS_URL` | base URL of the orders API (Brisk's route, or the service) | `http://127.0.0.1:8080/api` |
 * | `SUPPORT_ORDERS_PATH` | path of one order, `{id}` replaced | `/orders/{id}` |
 * | `SUPPORT_AGENT_TOKEN` | the agents' shared secret (each agent types a name) | this or the next |
 * | `SUPPORT_AGENT_TOKENS` | personal tokens `name:token,name:token` (the token is the agent) | none |
 * | `SUPPORT_AGENT_WEBHOOK` | IM webhook told about handoffs | none |
 * | `SUPPORT_PUBLIC_URL` | Brisk's public URL, for the link in the IM message | `http://127.0.0.1:8080` |
 * | `SUPPORT_THRESHOLD_ZH`, `SUPPORT_THRESHOLD_EN` | handoff thresholds | 0.45, 0.35 |
 * | `SUPPORT_DATA_DIR` | folder of the conversations journal (kept across restarts) | none: memory only |
 */
import { HttpOrdersApi } from './bot/orders.js';
import { createSupportService } from './app.js';
import { parseAgentTokens } from './chat/agents.js';

function env(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}

function threshold(name: string): number | undefined {
  const raw = env(name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!(n >= 0 && n <= 1)) {
    console.error(`support: ${name}=${raw} is not a number from 0 to 1`);
    process.exit(2);
  }
  return n;
}

const agentToken = env('SUPPORT_AGENT_TOKEN');
let agentTokens: Record<string, string> = {};
try {
  agentTokens = parseAgentTokens(env('SUPPORT_AGENT_TOKENS') ?? '');
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(2);
}
if (agentToken === undefined && Object.keys(agentTokens).length === 0) {
  console.error('support: no agent token: set SUPPORT_AGENT_TOKEN (one shared secret, any long random string) or SUPPORT_AGENT_TOKENS (name:token,… one per agent): the agent page needs one');
  process.exit(2);
}
const zh = threshold('SUPPORT_THRESHOLD_ZH');
const en = threshold('SUPPORT_THRESHOLD_EN');
const webhookUrl = env('SUPPORT_AGENT_WEBHOOK');
let support: ReturnType<typeof createSupportService>;
try {
  support = createSupportService({
    orders: new HttpOrdersApi({ baseUrl: env('SUPPORT_ORDERS_URL') ?? 'http://127.0.0.1:8080/api', ...(env('SUPPORT_ORDERS_PATH') ? { path: env('SUPPORT_ORDERS_PATH')! } : {}) }),
    ...(agentToken !== undefined ? { agentToken } : {}),
    agentTokens,
    ...(webhookUrl ? { webhookUrl } : {}),
    publicUrl: env('SUPPORT_PUBLIC_URL') ?? 'http://127.0.0.1:8080',
    ...(env('SUPPORT_DATA_DIR') ? { dataDir: env('SUPPORT_DATA_DIR')! } : {}),
    threshold: { ...(zh !== undefined ? { zh } : {}), ...(en !== undefined ? { en } : {}) },
  });
} catch (error) {
  // A bad URL, a broken FAQ file: one clear line and a non-zero exit, not a stack.
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(2);
}
await support.service.start();
