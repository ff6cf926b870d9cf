/**
 * Agents' tokens: personal ones bind the name an agent speaks as, the shared one lets the
 * agent choose it; a real support service and real WebSockets.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { createSupportService, type Support } from '../src/app.js';
import { HttpOrdersApi } from '../src/bot/orders.js';
import { AgentKeys, parseAgentTokens } from '../src/chat/agents.js';
import { connect } from './helpers.js';

const LIN = 'lin-personal-token-0123';
const SHARED = 'the-shared-team-secret';

describe('agent tokens', () => {
  test('SUPPORT_AGENT_TOKENS is parsed, and refused with the entry to fix', () => {
    assert.deepEqual(parseAgentTokens(' lin:abcdefghijkl:x , wei:0123456789ab '), { lin: 'abcdefghijkl:x', wei: '0123456789ab' });
    assert.deepEqual(parseAgentTokens(''), {});
    assert.throws(() => parseAgentTokens('lin'), /"lin…" is not name:token/);
    assert.throws(() => parseAgentTokens('lin:short'), /the token of lin is shorter than 12 characters/);
    assert.throws(() => parseAgentTokens('lin:abcdefghijkl,lin:mnopqrstuvwx'), /lin is named twice/);
    assert.throws(() => new AgentKeys(undefined, {}), /no agent token: set SUPPORT_AGENT_TOKEN/);
    const keys = new AgentKeys(SHARED, { Lin: LIN });
    assert.deepEqual(keys.check(LIN), { name: 'Lin' });
    assert.deepEqual(keys.check(SHARED), { name: null });
    assert.equal(keys.check('nope'), undefined);
  });

  let support: Support;
  before(async () => {
    support = createSupportService({ orders: new HttpOrdersApi({ baseUrl: 'http://127.0.0.1:9/api' }), agentToken: SHARED, agentTokens: { Lin: LIN }, logger: pino({ level: 'silent' }), handleSignals: false });
    await support.service.start();
  });
  after(async () => {
    await support?.service.stop();
  });

  test('a personal token signs in as its agent whatever name the page sends; the shared one as the name typed; a wrong one is refused', { timeout: 30_000 }, async () => {
    const ws = `${support.service.url.replace(/^http/, 'ws')}/support/agent/ws`;
    const lin = await connect(ws);
    lin.send({ type: 'hello', token: LIN, name: 'Someone Else' });
    assert.equal((await lin.next((f) => f['type'] === 'welcome', 'the welcome'))['name'], 'Lin');
    const team = await connect(ws);
    team.send({ type: 'hello', token: SHARED, name: 'Wei' });
    assert.equal((await team.next((f) => f['type'] === 'welcome', 'the welcome'))['name'], 'Wei');
    const intruder = await connect(ws);
    intruder.send({ type: 'hello', token: 'guess', name: 'Lin' });
    assert.equal((await intruder.next((f) => f['type'] === 'error', 'the refusal'))['code'], 'SUPPORT_AGENT_TOKEN');
    assert.equal((await intruder.closed).code, 4401);
    lin.ws.close();
    team.ws.close();

    // The queue API takes either kind of token.
    const api = `${support.service.url}/support/api/conversations`;
    for (const token of [LIN, SHARED]) assert.equal((await fetch(api, { headers: { authorization: `Bearer ${token}` } })).status, 200, token);
    assert.equal((await fetch(api, { headers: { authorization: 'Bearer guess' } })).status, 401);
  });
});
